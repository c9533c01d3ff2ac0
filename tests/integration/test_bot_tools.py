"""The bot's tools, usage and budget on moto, through the real worker and the real
google-genai SDK against the fake Gemini: room_search as a function the model calls (the
search wing run as the bot's view of the room), Google Search grounding and its sources,
each answer's usage counted per bot and month, and the monthly budget refusing commands
before the model is called."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import boto3
import pytest

from chat.config import settings
from chat.ids import new_id, now_iso
from chat.logic.bot import tools
from tests.integration import test_bot_worker as worker_tests
from tests.integration.test_bot_worker import (
    bot_replies,
    deliver,
    invoke,
    post,
    receive_all,
    stored,
)
from tests.support.clients import handler_of
from tests.support.events import LambdaContext
from tests.support.streams import TableStream

INDEXER = "SearchIndexerFunction"
# the worker tests' fixtures: a room with a key (keyed_room), a joined socket (joined)
keyed_room = worker_tests.keyed_room
joined = worker_tests.joined


@pytest.fixture
def index(stack: dict[str, Any]) -> Callable[[], None]:
    """index(): the search indexer takes the messages table's changes so far."""
    stream = TableStream("MessagesTable")

    def _index() -> None:
        records = stream.read()
        if records:
            answer = handler_of(INDEXER)(stream.event(records), LambdaContext(INDEXER))
            assert answer == {"batchItemFailures": []}

    return _index


@pytest.fixture
def tooled_room(rest, keyed_room):
    """tooled_room(tools, *usernames, **settings) -> (room, tokens): alice owns it."""

    def _tooled_room(bot_tools: list[str], *usernames: str, **bot_settings: Any):
        room, tokens = keyed_room(*(usernames or ("alice",)))
        body = {"tools": bot_tools, **bot_settings}
        result = rest.put(f"/rooms/{room['room_id']}/bot", body, token=tokens["alice"])
        assert result.status == 200, result.body
        return room, tokens

    return _tooled_room


def final_frame(client) -> dict[str, Any]:
    (end,) = [f for f in client.frames("bot_stream") if f["is_complete"]]
    return end


def function_results(request) -> list[dict[str, Any]]:
    """The functionResponse parts a request to the fake carried, in order."""
    return [
        part["functionResponse"]
        for content in request.body["contents"]
        for part in content.get("parts", [])
        if "functionResponse" in part
    ]


def usage_of(rest, room, token, month: str | None = None):
    query = {"month": month} if month else None
    return rest.get(f"/rooms/{room['room_id']}/usage", query=query, token=token)


# ------------------------------------------------------------------------------ room_search
def test_room_search_runs_twice_as_the_bots_view_and_the_answer_lists_what_it_found(
    rest,
    tooled_room,
    joined,
    gemini,
    stack,
    index,
):
    # Given a room whose bot has room_search, with older messages about a deploy and a
    # budget, one of them deleted and one private to bob
    room, tokens = tooled_room(["room_search"], "alice", "bob")
    alice = joined(tokens["alice"], room["room_id"])
    deploy = post(rest, room, tokens["bob"], "the deploy is on friday")
    budget = post(rest, room, tokens["alice"], "budget approved for the deploy")
    gone = post(rest, room, tokens["bob"], "deploy secrets here")
    assert (
        rest.delete(
            f"/rooms/{room['room_id']}/messages/{gone['message_id']}", token=tokens["bob"]
        ).status
        == 204
    )
    private = {
        "room_id": room["room_id"],
        "message_id": new_id(),
        "username": "bob",
        "content": "my private deploy notes",
        "message_type": "text",
        "is_bot": False,
        "created_at": now_iso(),
        "visible_to": "bob",
    }
    boto3.resource("dynamodb").Table(settings().messages_table).put_item(Item=private)
    index()

    # When alice asks the bot, and the model searches twice before it answers
    command = post(
        rest,
        room,
        tokens["alice"],
        "@bot what was decided? [fake:tool=room_search,query=deploy,query=budget]",
    )
    index()  # the command itself is indexed too: the bot searches older messages only
    assert deliver(stack) == []

    # Then the model was asked three times: two searches, then the answer
    assert len(gemini.requests) == 3
    first, second, third = (function_results(r) for r in gemini.requests)
    assert first == []
    assert [r["name"] for r in second] == ["room_search"]
    found = [m["message_id"] for m in second[0]["response"]["output"]["messages"]]
    # the newest first; never the deleted one, bob's private one, or the command
    assert found == [budget["message_id"], deploy["message_id"]]
    assert [m["message_id"] for m in third[1]["response"]["output"]["messages"]] == [
        budget["message_id"]
    ]
    # And the answer lists what was found, one line per message, and records the searches
    end = final_frame(alice)
    assert end["full_response"].splitlines() == [
        f"{budget['message_id']}: budget approved for the deploy",
        f"{deploy['message_id']}: the deploy is on friday",
    ]
    calls = [{"tool": "room_search", "query": "deploy"}, {"tool": "room_search", "query": "budget"}]
    assert end["tool_calls"] == calls and end["sources"] == []
    (reply,) = bot_replies(rest, room, tokens["bob"])
    assert reply["reply_to"] == command["message_id"] and reply["status"] == "complete"
    assert reply["tool_calls"] == calls and reply["sources"] == []
    assert reply["content"] == end["full_response"]


def test_room_search_is_bounded_then_the_model_must_answer(
    rest,
    tooled_room,
    joined,
    gemini,
    stack,
    index,
):
    room, tokens = tooled_room(["room_search"])
    alice = joined(tokens["alice"], room["room_id"])
    post(rest, room, tokens["alice"], "apples and pears")
    index()
    queries = ",".join(f"query=apples{n}" for n in range(tools.MAX_SEARCHES + 2))
    post(rest, room, tokens["alice"], f"@bot search a lot [fake:tool=room_search,{queries}]")
    assert deliver(stack) == []

    # At most MAX_SEARCHES searches; the request after them forbids calls
    assert len(gemini.requests) == tools.MAX_SEARCHES + 1
    modes = [
        (r.body.get("toolConfig") or {}).get("functionCallingConfig", {}).get("mode")
        for r in gemini.requests
    ]
    assert modes == ["AUTO"] * tools.MAX_SEARCHES + ["NONE"]
    end = final_frame(alice)
    assert len(end["tool_calls"]) == tools.MAX_SEARCHES
    assert end["full_response"] == "No messages found."  # apples0 … match no word


def test_without_the_tool_the_model_is_offered_nothing(
    rest,
    keyed_room,
    joined,
    gemini,
    stack,
):
    room, tokens = keyed_room("alice")
    alice = joined(tokens["alice"], room["room_id"])
    post(rest, room, tokens["alice"], "@bot look [fake:tool=room_search,query=x] [fake:sources=2]")
    assert deliver(stack) == []
    (request,) = gemini.requests
    assert "tools" not in request.body and "toolConfig" not in request.body
    end = final_frame(alice)
    assert end["tool_calls"] == [] and end["sources"] == []
    assert "local stand-in" in end["full_response"]


# ------------------------------------------------------------------------------ web_search
def test_a_grounded_answer_cites_its_sources_in_the_final_frame_and_history(
    rest,
    tooled_room,
    joined,
    gemini,
    stack,
):
    room, tokens = tooled_room(["web_search"], "alice", "bob")
    bob = joined(tokens["bob"], room["room_id"])
    post(rest, room, tokens["alice"], "@bot latest python release? [fake:sources=3]")
    assert deliver(stack) == []

    (request,) = gemini.requests
    assert request.body["tools"] == [{"googleSearch": {}}]
    sources = [
        {"title": f"Fake page {n}", "url": f"https://example.com/fake-page-{n}"} for n in (1, 2, 3)
    ]
    end = final_frame(bob)
    assert end["sources"] == sources
    assert end["tool_calls"] == [{"tool": "web_search", "query": "latest python release?"}]
    (reply,) = bot_replies(rest, room, tokens["alice"])
    assert reply["sources"] == sources and reply["tool_calls"] == end["tool_calls"]


@pytest.mark.parametrize(
    ("model", "offered"),
    [
        # before Gemini 3 search and functions do not mix: the functions are offered
        ("gemini-2.5-flash", {"functionDeclarations"}),
        ("gemini-3-flash-preview", {"functionDeclarations", "googleSearch"}),
    ],
)
def test_both_tools_are_offered_together_only_to_models_that_combine_them(
    rest,
    tooled_room,
    gemini,
    stack,
    model,
    offered,
):
    room, tokens = tooled_room(["room_search", "web_search"], model=model)
    post(rest, room, tokens["alice"], "@bot hi")
    assert deliver(stack) == []
    (request,) = gemini.requests
    assert set().union(*request.body["tools"]) == offered  # as the SDK lays them out
    combined = request.body["toolConfig"].get("includeServerSideToolInvocations")
    assert combined is (True if len(offered) == 2 else None)


# ------------------------------------------------------------------------------ usage
def test_usage_is_stored_on_the_answer_and_summed_per_bot_and_month(
    rest,
    tooled_room,
    joined,
    gemini,
    stack,
    index,
):
    room, tokens = tooled_room(["room_search"], "alice", "bob")
    post(rest, room, tokens["alice"], "@bot one [fake:usage=120/30]")
    # a tool loop: every request of the answer reports 10/3
    post(rest, room, tokens["bob"], "@bot two [fake:tool=room_search,query=one,usage=10/3]")
    assert deliver(stack) == []

    first, second = bot_replies(rest, room, tokens["alice"])
    assert first["usage"] == {"input_tokens": 120, "output_tokens": 30}
    assert second["usage"] == {"input_tokens": 20, "output_tokens": 6}
    report = usage_of(rest, room, tokens["bob"])
    assert report.status == 200
    assert report.body == {
        "month": now_iso()[:7],
        "bots": [{"name": "bot", "answers": 2, "input_tokens": 140, "output_tokens": 36}],
    }
    # another month has nothing; a human message has no usage
    other = usage_of(rest, room, tokens["bob"], "2001-02").body
    assert other == {
        "month": "2001-02",
        "bots": [{"name": "bot", "answers": 0, "input_tokens": 0, "output_tokens": 0}],
    }
    history = rest.get(f"/rooms/{room['room_id']}/messages", token=tokens["bob"]).body
    humans = [m for m in history["messages"] if not m["is_bot"]]
    assert all(m["usage"] is None and m["tool_calls"] == [] for m in humans)


def test_a_redelivered_command_is_not_counted_twice(rest, keyed_room, gemini, stack):
    room, tokens = keyed_room("alice")
    post(rest, room, tokens["alice"], "@bot once [fake:usage=50/5]")
    records = receive_all(stack)
    assert invoke(stack, records) == []
    # the idempotency records gone too: only the reply's own state stops a second count
    table = boto3.resource("dynamodb").Table(settings().idempotency_table)
    for item in table.scan()["Items"]:
        table.delete_item(Key={"id": item["id"]})
    assert invoke(stack, records) == []
    assert len(gemini.requests) == 1
    (bot,) = usage_of(rest, room, tokens["alice"]).body["bots"]
    assert (bot["answers"], bot["input_tokens"], bot["output_tokens"]) == (1, 50, 5)


def test_a_failed_answer_without_usage_is_not_counted(rest, keyed_room, gemini, stack):
    room, tokens = keyed_room("alice")
    post(rest, room, tokens["alice"], "@bot [fake:500]")
    assert deliver(stack) == []
    (reply,) = bot_replies(rest, room, tokens["alice"])
    assert reply["status"] == "error" and reply["usage"] is None
    (bot,) = usage_of(rest, room, tokens["alice"]).body["bots"]
    assert bot["answers"] == 0


@pytest.mark.parametrize("month", ["2026-13", "2026-1", "26-01", "2026-01-01", "x", "2026-00"])
def test_usage_month_is_validated(rest, keyed_room, month):
    room, tokens = keyed_room("alice")
    result = usage_of(rest, room, tokens["alice"], month)
    assert result.status == 422
    assert result.error_code == "validation_error"


def test_usage_is_for_members_only(rest, keyed_room, register):
    room, _ = keyed_room("alice")
    outsider = register("eve")
    assert usage_of(rest, room, outsider).status == 404
    assert rest.get(f"/rooms/{room['room_id']}/usage").status == 401


# ------------------------------------------------------------------------------ budget
def test_a_bot_over_its_budget_refuses_without_calling_the_model(
    rest,
    tooled_room,
    joined,
    gemini,
    stack,
):
    # Given a bot with a budget of 100 tokens a month
    room, tokens = tooled_room([], "alice", "bob", monthly_token_budget=100)
    bob = joined(tokens["bob"], room["room_id"])
    # When an answer takes 90 (under the budget: it runs), then one takes 30 (crossing it:
    # it runs too, the budget is checked before an answer)
    post(rest, room, tokens["alice"], "@bot one [fake:usage=80/10]")
    assert deliver(stack) == []
    post(rest, room, tokens["alice"], "@bot two [fake:usage=20/10]")
    assert deliver(stack) == []
    assert len(gemini.requests) == 2
    bob.sockets.clear()
    # Then the next command is refused and the model is not called
    command = post(rest, room, tokens["bob"], "@bot three")
    assert deliver(stack) == []
    assert len(gemini.requests) == 2
    (error,) = bob.frames("bot_error")
    assert error["code"] == "budget_exceeded" and error["reply_to"] == command["message_id"]
    reply = stored(room["room_id"], error["message_id"])
    assert reply["status"] == "error" and reply["content"] == ""
    (bot,) = usage_of(rest, room, tokens["bob"]).body["bots"]
    assert (bot["answers"], bot["input_tokens"] + bot["output_tokens"]) == (2, 120)

    # When the owner raises the budget, the bot answers again
    rest.put(f"/rooms/{room['room_id']}/bot", {"monthly_token_budget": 1000}, token=tokens["alice"])
    post(rest, room, tokens["bob"], "@bot four")
    assert deliver(stack) == []
    assert len(gemini.requests) == 3


def test_a_budget_of_zero_answers_nothing(rest, tooled_room, gemini, stack):
    room, tokens = tooled_room([], monthly_token_budget=0)
    post(rest, room, tokens["alice"], "@bot hello")
    assert deliver(stack) == []
    assert gemini.requests == []
    (reply,) = bot_replies(rest, room, tokens["alice"])
    assert reply["status"] == "error"
