"""Private commands (`"private": true`) and summaries (`POST /rooms/{id}/summary`) through
the real handlers and worker (the real google-genai SDK against the fake Gemini): who gets
their frames, who reads them in history, unread counts, search and bots' contexts."""

from __future__ import annotations

import json
from typing import Any

import jwt
import pytest

from chat.config import settings
from chat.logic.bot import summary
from local.fake_gemini import Reply
from tests.integration import test_bot_worker as worker_tests
from tests.integration import test_search_api as search_tests
from tests.integration.test_bot_addressing import add_bot
from tests.integration.test_bot_worker import bot_replies, deliver, post, receive_all, stored

keyed_room = worker_tests.keyed_room
joined = worker_tests.joined
stream = search_tests.stream
index = search_tests.index


def private(rest, room, token, content: str, **fields: Any):
    body = {"content": content, "private": True, **fields}
    return rest.post(f"/rooms/{room['room_id']}/messages", body, token=token)


def history(rest, room, token, **query: str) -> list[dict[str, Any]]:
    page = rest.get(f"/rooms/{room['room_id']}/messages", query=query, token=token)
    assert page.status == 200, page.body
    return page.body["messages"]


def contents(messages: list[dict[str, Any]]) -> list[str]:
    return [m["content"] for m in messages]


def user_id(token: str) -> str:
    return jwt.decode(token, options={"verify_signature": False})["sub"]


# ------------------------------------------------------------------------------ private
def test_private_is_refused_on_anything_but_a_command(rest, keyed_room, joined, gemini):
    room, tokens = keyed_room("alice")
    refused = private(rest, room, tokens["alice"], "just text")
    assert refused.status == 422
    assert refused.body["error"]["details"][0]["field"] == "private"
    socket = joined(tokens["alice"], room["room_id"])
    frame = {"type": "message", "room_id": room["room_id"], "content": "hi", "private": True}
    assert socket.send(frame) == 200
    (error,) = socket.frames("error")
    assert error["code"] == "validation_error" and error["request_type"] == "message"
    assert history(rest, room, tokens["alice"]) == []


def test_a_private_command_and_its_answer_reach_only_their_author(
    rest, keyed_room, joined, gemini, stack
):
    room, tokens = keyed_room("alice", "bob")
    alice, bob = (joined(tokens[name], room["room_id"]) for name in ("alice", "bob"))

    command = private(rest, room, tokens["alice"], "@bot just for me [fake:text=yours only]")
    assert command.status == 201 and command.body["visible_to"] == "alice"
    assert deliver(stack) == []

    (answer,) = bot_replies(rest, room, tokens["alice"])
    assert answer["visible_to"] == "alice" and answer["content"] == "yours only"
    assert stored(room["room_id"], answer["message_id"])["visible_to"] == "alice"
    assert {f["type"] for f in alice.frames()} >= {"message", "bot_stream", "typing"}
    assert [f for f in bob.frames() if f["type"] not in ("presence", "joined")] == []
    assert history(rest, room, tokens["bob"]) == []
    assert history(rest, room, tokens["bob"], after="0") == []
    assert len(history(rest, room, tokens["alice"])) == 2


def test_a_private_command_over_the_websocket(rest, keyed_room, joined, gemini, stack):
    room, tokens = keyed_room("alice", "bob")
    alice, bob = (joined(tokens[name], room["room_id"]) for name in ("alice", "bob"))
    frame = {
        "type": "message",
        "room_id": room["room_id"],
        "content": "@bot quietly",
        "private": True,
        "client_id": "c1",
    }
    assert alice.send(frame) == 200
    (ack,) = alice.frames("message")
    assert ack["visible_to"] == "alice" and ack["client_id"] == "c1"
    assert bob.frames("message") == []


def test_history_pages_are_filled_past_others_private_messages(rest, keyed_room, gemini, stack):
    room, tokens = keyed_room("alice", "bob")
    post(rest, room, tokens["bob"], "one")
    post(rest, room, tokens["bob"], "two")
    for index_ in range(4):
        private(rest, room, tokens["alice"], f"@bot secret {index_}")
    post(rest, room, tokens["bob"], "three")

    page = rest.get(
        f"/rooms/{room['room_id']}/messages", query={"limit": "2"}, token=tokens["bob"]
    ).body
    assert contents(page["messages"]) == ["two", "three"]
    older = rest.get(
        f"/rooms/{room['room_id']}/messages",
        query={"limit": "2", "before": page["next_before"]},
        token=tokens["bob"],
    ).body
    assert contents(older["messages"]) == ["one"] and older["next_before"] is None


def test_unread_counts_hold_private_messages_for_their_viewer_only(rest, keyed_room, gemini, stack):
    room, tokens = keyed_room("alice", "bob")
    private(rest, room, tokens["alice"], "@bot mine [fake:text=ok]")
    assert deliver(stack) == []
    post(rest, room, tokens["alice"], "public")

    def unread(user: str) -> int:
        (summary_,) = rest.get("/rooms", token=tokens[user]).body["rooms"]
        return summary_["unread_count"]

    assert unread("bob") == 1  # "public" only
    assert unread("alice") == 1  # the bot's private answer to her


def test_others_cannot_touch_a_private_message(rest, keyed_room, gemini, stack):
    room, tokens = keyed_room("alice", "bob")
    command = private(rest, room, tokens["alice"], "@bot mine [fake:text=ok]").body
    assert deliver(stack) == []
    (answer,) = bot_replies(rest, room, tokens["alice"])
    base = f"/rooms/{room['room_id']}/messages"
    bob = tokens["bob"]

    assert rest.put(f"{base}/{answer['message_id']}/reactions/👍", token=bob).status == 404
    assert rest.post(f"{base}/{answer['message_id']}/regenerate", token=bob).status == 404
    assert rest.post(f"{base}/{command['message_id']}/stop", token=bob).status == 404
    reply = rest.post(base, {"content": "hm", "reply_to": answer["message_id"]}, token=bob)
    assert reply.status == 422
    read = rest.put(
        f"/rooms/{room['room_id']}/read", {"message_id": answer["message_id"]}, token=bob
    )
    assert read.status == 422
    # even the owner cannot delete what they cannot see
    bob_private = private(rest, room, bob, "@bot bobs").body
    delete = rest.delete(f"{base}/{bob_private['message_id']}", token=tokens["alice"])
    assert delete.status == 404
    assert rest.delete(f"{base}/{bob_private['message_id']}", token=bob).status == 204


def test_search_finds_a_private_command_for_its_author_only(rest, keyed_room, gemini, index):
    room, tokens = keyed_room("alice", "bob")
    private(rest, room, tokens["alice"], "@bot the zanzibar plan")
    index()

    def found(user: str) -> list[str]:
        result = rest.get("/search", query={"q": "zanzibar"}, token=tokens[user])
        return contents(result.body["results"])

    assert found("alice") == ["@bot the zanzibar plan"]
    assert found("bob") == []


def test_a_bot_sees_private_messages_only_in_their_authors_private_commands(
    rest, keyed_room, gemini, stack
):
    room, tokens = keyed_room("alice", "bob")
    private(rest, room, tokens["alice"], "@bot alice secret [fake:text=noted]")
    assert deliver(stack) == []
    post(rest, room, tokens["bob"], "public hello")

    bob_asks = post(rest, room, tokens["bob"], "@bot [fake:context]")
    assert deliver(stack) == []
    alice_public = post(rest, room, tokens["alice"], "@bot [fake:context]")
    assert deliver(stack) == []
    alice_private = private(rest, room, tokens["alice"], "@bot [fake:context]").body
    assert deliver(stack) == []

    def seen(command: dict[str, Any]) -> str:
        replies = bot_replies(rest, room, tokens[command["username"]])
        return next(r["content"] for r in replies if r["reply_to"] == command["message_id"])

    assert "secret" not in seen(bob_asks) and "noted" not in seen(bob_asks)
    assert "secret" not in seen(alice_public)  # its answer is everybody's
    assert seen(alice_private).splitlines()[:2] == [
        "alice: @bot alice secret [fake:text=noted]",
        "bot: noted",
    ]


def test_a_retried_private_command_to_a_named_bot_is_stored_queued_and_counted_once(
    rest, keyed_room, gemini, stack, monkeypatch
):
    room, tokens = keyed_room("alice")
    add_bot(rest, room, tokens["alice"], "Helper")
    monkeypatch.setenv("BOT_USER_COMMANDS_PER_MINUTE", "1")
    settings.cache_clear()
    first = private(rest, room, tokens["alice"], "@helper mine", client_id="p-1")
    assert first.status == 201 and first.body["visible_to"] == "alice"
    command = stored(room["room_id"], first.body["message_id"])
    assert command["bot"].lower() == "helper" and command["client_id"] == "p-1"
    assert command["author_id"] == user_id(tokens["alice"])  # erased with her account
    # The retry is answered with the command, not refused by the limit it already used …
    again = private(rest, room, tokens["alice"], "@helper mine", client_id="p-1")
    assert again.status == 200 and again.body == first.body
    assert len(receive_all(stack)) == 1
    # … while a new command is limited
    assert private(rest, room, tokens["alice"], "@helper more", client_id="p-2").status == 429
    settings.cache_clear()


# ------------------------------------------------------------------------------ summaries
def summarize(rest, room, token, **body: Any):
    return rest.post(f"/rooms/{room['room_id']}/summary", body, token=token)


def test_a_summary_covers_what_the_caller_missed_privately(rest, keyed_room, joined, gemini, stack):
    room, tokens = keyed_room("alice", "bob")
    seen_before = post(rest, room, tokens["alice"], "old news")
    rest.put(
        f"/rooms/{room['room_id']}/read",
        {"message_id": seen_before["message_id"]},
        token=tokens["bob"],
    )
    post(rest, room, tokens["alice"], "we ship on Friday")
    gone = post(rest, room, tokens["alice"], "typo message")
    rest.delete(f"/rooms/{room['room_id']}/messages/{gone['message_id']}", token=tokens["alice"])
    private(rest, room, tokens["alice"], "@bot alice only [fake:text=for alice]")
    assert deliver(stack) == []
    gemini.reset()
    post(rest, room, tokens["alice"], "bob, can you review the PR?")
    alice = joined(tokens["alice"], room["room_id"])
    gemini.script(Reply(text="Friday ship; bob reviews the PR."))

    queued = summarize(rest, room, tokens["bob"])

    assert queued.status == 202
    command_id = queued.body["command_id"]
    command = stored(room["room_id"], command_id)
    assert command["message_type"] == "command" and command["visible_to"] == "bob"
    assert command["username"] == "bob" and command["author_id"] == user_id(tokens["bob"])
    assert deliver(stack) == []
    (request,) = gemini.requests
    text = request.turns[-1][1]
    assert "alice: we ship on Friday\nalice: bob, can you review the PR?" in text
    assert "old news" not in text and "typo" not in text
    assert "alice only" not in text and "for alice" not in text
    (answer,) = bot_replies(rest, room, tokens["bob"])
    assert answer["reply_to"] == command_id and answer["visible_to"] == "bob"
    assert answer["content"] == "Friday ship; bob reviews the PR."
    assert [r["content"] for r in bot_replies(rest, room, tokens["alice"])] == ["for alice"]
    assert alice.frames("bot_stream") == []


def test_a_public_summary_since_a_message_is_everybodys(rest, keyed_room, gemini, stack):
    room, tokens = keyed_room("alice", "bob")
    first = post(rest, room, tokens["alice"], "first")
    post(rest, room, tokens["bob"], "second")

    queued = summarize(rest, room, tokens["alice"], since=first["message_id"], private=False)

    assert queued.status == 202
    assert deliver(stack) == []
    (answer,) = bot_replies(rest, room, tokens["bob"])
    assert answer["visible_to"] is None
    text = gemini.requests[0].turns[-1][1]
    assert "bob: second" in text and "alice: first" not in text


def test_nothing_after_since_is_a_409(rest, keyed_room, gemini, stack):
    room, tokens = keyed_room("alice", "bob")
    assert summarize(rest, room, tokens["bob"]).status == 409  # an empty room
    last = post(rest, room, tokens["alice"], "hello")
    assert summarize(rest, room, tokens["bob"], since=last["message_id"]).status == 409
    rest.put(
        f"/rooms/{room['room_id']}/read", {"message_id": last["message_id"]}, token=tokens["bob"]
    )
    assert summarize(rest, room, tokens["bob"]).status == 409
    unknown = summarize(rest, room, tokens["bob"], since="01NOSUCHMESSAGE")
    assert unknown.status == 422 and unknown.body["error"]["details"][0]["field"] == "since"
    assert receive_all(stack) == []


def test_a_summary_counts_against_the_bot_limits(rest, keyed_room, gemini, stack, monkeypatch):
    monkeypatch.setenv("BOT_USER_COMMANDS_PER_MINUTE", "1")
    settings.cache_clear()
    room, tokens = keyed_room("alice")
    post(rest, room, tokens["alice"], "@bot first")
    limited = summarize(rest, room, tokens["alice"])
    assert limited.status == 429
    settings.cache_clear()


def test_a_long_summary_is_made_in_stages(rest, keyed_room, gemini, stack, monkeypatch):
    monkeypatch.setattr(summary, "MAX_CHARS_PER_REQUEST", 60)
    room, tokens = keyed_room("alice", "bob")
    for index_ in range(6):
        post(rest, room, tokens["alice"], f"point number {index_} is made")
    gemini.script(
        Reply(text="part A"), Reply(text="part B"), Reply(text="part C"), Reply(text="Done.")
    )

    assert summarize(rest, room, tokens["bob"]).status == 202
    assert deliver(stack) == []

    assert len(gemini.requests) == 4
    stages = [request.turns[-1][1] for request in gemini.requests[:3]]
    assert "alice: point number 0 is made" in stages[0]
    assert "alice: point number 5 is made" in stages[2]
    final = gemini.requests[3].turns[-1][1]
    assert "part A\npart B\npart C" in final and "point number" not in final
    (answer,) = bot_replies(rest, room, tokens["bob"])
    assert answer["content"] == "Done."


@pytest.mark.parametrize("body", [{"since": 5}, {"private": "yes"}, {"since": "../x"}])
def test_a_summary_request_is_validated(rest, keyed_room, body):
    room, tokens = keyed_room("alice")
    post(rest, room, tokens["alice"], "hi")
    refused = rest.call(
        "POST",
        f"/rooms/{room['room_id']}/summary",
        body=json.loads(json.dumps(body)),
        token=tokens["alice"],
    )
    assert refused.status == 422
