"""Several bots in one room, through the real worker and the real google-genai SDK against
the fake Gemini: which bot a message addresses, each answer by its bot, keys, a removed
bot's queued command, and what each bot sees (the fake's `[fake:context]`)."""

from __future__ import annotations

from typing import Any

import boto3
import pytest
from aws_lambda_powertools.utilities.parameters.base import clear_caches

from chat.config import settings
from tests.integration import test_bot_worker as worker_tests
from tests.integration.test_bot_worker import (
    API_KEY,
    SHARED_KEY,
    bot_replies,
    deliver,
    post,
    receive_all,
    stored,
)
from tests.support.clients import RestClient

keyed_room = worker_tests.keyed_room
joined = worker_tests.joined
REVIEWER_KEY = "AIzaREVIEWER-own-key-0003"


def add_bot(rest: RestClient, room: dict[str, Any], token: str, name: str, **fields: Any):
    result = rest.post(f"/rooms/{room['room_id']}/bots", {"name": name, **fields}, token=token)
    assert result.status == 201, result.body
    return result.body


def reply(rest, room, token, content: str, reply_to: str, **fields: Any) -> dict[str, Any]:
    body = {"content": content, "reply_to": reply_to, **fields}
    result = rest.post(f"/rooms/{room['room_id']}/messages", body, token=token)
    assert result.status == 201, result.body
    return result.body


def answer_of(rest, room, token, command: dict[str, Any]) -> dict[str, Any]:
    (found,) = [m for m in bot_replies(rest, room, token) if m["reply_to"] == command["message_id"]]
    return found


# ------------------------------------------------------------------------------ addressing
def test_at_name_in_any_case_is_a_command_for_that_bot_which_answers_by_its_name(
    rest, keyed_room, joined, gemini, stack
):
    room, tokens = keyed_room("alice", "bob")
    add_bot(
        rest,
        room,
        tokens["alice"],
        "Reviewer",
        model="gemini-review",
        system_prompt="You review code.",
        gemini_api_key=REVIEWER_KEY,
    )
    bob = joined(tokens["bob"], room["room_id"])

    command = post(rest, room, tokens["bob"], "@REVIEWER look at this [fake:text=LGTM]")
    assert command["message_type"] == "command"
    assert deliver(stack) == []

    answer = answer_of(rest, room, tokens["bob"], command)
    assert answer["username"] == "Reviewer" and answer["is_bot"] and answer["content"] == "LGTM"
    (request,) = gemini.requests
    assert request.model == "gemini-review" and request.api_key == REVIEWER_KEY
    assert 'You are "Reviewer"' in request.system_instruction
    assert "You review code." in request.system_instruction
    assert request.turns[-1][1].splitlines()[-1] == "bob: @Reviewer look at this [fake:text=LGTM]"
    streams = bob.frames("bot_stream")
    assert streams and {frame["username"] for frame in streams} == {"Reviewer"}
    typing = [f for f in bob.frames("typing") if f["username"] != "alice"]
    assert [(f["username"], f["is_typing"]) for f in typing] == [
        ("Reviewer", True),
        ("Reviewer", False),
    ]


def test_a_named_bots_command_over_the_websocket(rest, keyed_room, joined, gemini, stack):
    room, tokens = keyed_room("alice")
    add_bot(rest, room, tokens["alice"], "Tutor", answers_replies=True)
    alice = joined(tokens["alice"], room["room_id"])
    frame = {"type": "message", "room_id": room["room_id"], "content": "@tutor hi [fake:text=yo]"}

    assert alice.send(frame) == 200

    (ack,) = alice.frames("message")
    assert ack["message_type"] == "command"
    assert deliver(stack) == []
    answer = answer_of(rest, room, tokens["alice"], ack)
    assert answer["username"] == "Tutor"
    assert alice.send({**frame, "content": "why?", "reply_to": answer["message_id"]}) == 200
    assert alice.frames("message")[-1]["message_type"] == "command"
    assert alice.frames("error") == []


@pytest.mark.parametrize(
    "content",
    ["@ghost hello", "@reviewerx hi", "@reviewer, hi", "email @reviewer", "@alice hi"],
)
def test_an_unknown_name_or_another_form_is_plain_text(rest, keyed_room, gemini, stack, content):
    room, tokens = keyed_room("alice")
    add_bot(rest, room, tokens["alice"], "reviewer")

    message = post(rest, room, tokens["alice"], content)

    assert message["message_type"] == "text"
    assert receive_all(stack) == []


def test_a_bot_of_another_room_is_plain_text_here(rest, keyed_room, register, gemini, stack):
    room, tokens = keyed_room("alice")
    other = rest.post("/rooms", {"name": "other"}, token=tokens["alice"]).body
    add_bot(rest, other, tokens["alice"], "planner")

    assert post(rest, room, tokens["alice"], "@planner plan it")["message_type"] == "text"


def test_commands_for_every_bot_of_a_room_share_its_queue_group(rest, keyed_room, gemini, stack):
    room, tokens = keyed_room("alice")
    add_bot(rest, room, tokens["alice"], "planner")
    post(rest, room, tokens["alice"], "@planner one [fake:text=p]")
    post(rest, room, tokens["alice"], "@bot two [fake:text=b]")

    records = receive_all(stack)

    assert [r["Attributes"]["MessageGroupId"] for r in records] == [room["room_id"]] * 2
    assert worker_tests.invoke(stack, records) == []
    answers = bot_replies(rest, room, tokens["alice"])
    assert [(a["username"], a["content"]) for a in answers] == [("planner", "p"), ("bot", "b")]


@pytest.mark.parametrize("answers_replies", [True, False])
def test_a_reply_to_a_bots_answer_is_a_command_for_it_when_it_answers_replies(
    rest, keyed_room, gemini, stack, answers_replies
):
    room, tokens = keyed_room("alice", "bob")
    add_bot(rest, room, tokens["alice"], "Tutor", answers_replies=answers_replies)
    first = post(rest, room, tokens["alice"], "@tutor explain sets [fake:text=Sets are bags]")
    assert deliver(stack) == []
    answer = answer_of(rest, room, tokens["alice"], first)

    follow_up = reply(rest, room, tokens["bob"], "why bags?", answer["message_id"])

    if not answers_replies:
        assert follow_up["message_type"] == "text"
        assert receive_all(stack) == []
        return
    assert follow_up["message_type"] == "command"
    assert deliver(stack) == []
    second = answer_of(rest, room, tokens["bob"], follow_up)
    assert second["username"] == "Tutor"
    # a reply to a person's message is no command, whatever the bots answer
    assert reply(rest, room, tokens["alice"], "ok", follow_up["message_id"])["message_type"] == (
        "text"
    )


def test_the_default_bot_answers_replies_too_when_set(rest, keyed_room, gemini, stack):
    room, tokens = keyed_room("alice")
    rest.put(f"/rooms/{room['room_id']}/bot", {"answers_replies": True}, token=tokens["alice"])
    first = post(rest, room, tokens["alice"], "@bot hi [fake:text=hello]")
    assert deliver(stack) == []
    answer = answer_of(rest, room, tokens["alice"], first)

    follow_up = reply(rest, room, tokens["alice"], "and then?", answer["message_id"])

    assert follow_up["message_type"] == "command"
    assert deliver(stack) == []
    assert answer_of(rest, room, tokens["alice"], follow_up)["username"] == "bot"


# ------------------------------------------------------------------------------ keys
def test_a_bot_without_a_key_uses_the_default_bots_key(rest, keyed_room, gemini, stack):
    room, tokens = keyed_room("alice")
    add_bot(rest, room, tokens["alice"], "helper")
    post(rest, room, tokens["alice"], "@helper hi")
    assert deliver(stack) == []
    (request,) = gemini.requests
    assert request.api_key == API_KEY


def test_without_any_room_key_a_bot_uses_the_shared_key_else_answers_no_api_key(
    rest, keyed_room, joined, gemini, stack, monkeypatch
):
    room, tokens = keyed_room("alice", key=None)
    add_bot(rest, room, tokens["alice"], "helper")
    alice = joined(tokens["alice"], room["room_id"])
    post(rest, room, tokens["alice"], "@helper hi")
    assert deliver(stack) == []
    (error,) = alice.frames("bot_error")
    assert error["code"] == "no_api_key" and error["username"] == "helper"

    arn = boto3.client("secretsmanager").create_secret(
        Name="shared-gemini-key", SecretString=SHARED_KEY
    )["ARN"]
    monkeypatch.setenv("SHARED_GEMINI_KEY_SECRET_ARN", arn)
    settings.cache_clear()
    clear_caches()
    post(rest, room, tokens["alice"], "@helper again")
    assert deliver(stack) == []
    (request,) = gemini.requests
    assert request.api_key == SHARED_KEY


# ------------------------------------------------------------------------------ removal
def test_a_removed_bots_queued_command_is_not_answered(rest, keyed_room, gemini, stack):
    room, tokens = keyed_room("alice")
    add_bot(rest, room, tokens["alice"], "helper")
    command = post(rest, room, tokens["alice"], "@helper are you there?")
    assert rest.delete(f"/rooms/{room['room_id']}/bots/helper", token=tokens["alice"]).status == 204

    assert deliver(stack) == []

    assert gemini.requests == []
    assert bot_replies(rest, room, tokens["alice"]) == []
    assert stored(room["room_id"], command["message_id"]).get("reply_id") is None


def test_a_removed_bots_answers_stay_and_cannot_be_regenerated(rest, keyed_room, gemini, stack):
    room, tokens = keyed_room("alice")
    add_bot(rest, room, tokens["alice"], "helper")
    command = post(rest, room, tokens["alice"], "@helper hi [fake:text=hey]")
    assert deliver(stack) == []
    answer = answer_of(rest, room, tokens["alice"], command)
    rest.delete(f"/rooms/{room['room_id']}/bots/helper", token=tokens["alice"])

    again = rest.post(
        f"/rooms/{room['room_id']}/messages/{answer['message_id']}/regenerate",
        token=tokens["alice"],
    )

    assert again.status == 409
    assert answer_of(rest, room, tokens["alice"], command)["content"] == "hey"
    assert post(rest, room, tokens["alice"], "@helper still?")["message_type"] == "text"


def test_a_command_stopped_before_it_started_is_ended_by_its_bot(
    rest, keyed_room, joined, gemini, stack
):
    room, tokens = keyed_room("alice")
    add_bot(rest, room, tokens["alice"], "helper")
    alice = joined(tokens["alice"], room["room_id"])
    command = post(rest, room, tokens["alice"], "@helper wait")

    stop = rest.post(
        f"/rooms/{room['room_id']}/messages/{command['message_id']}/stop", token=tokens["alice"]
    )

    assert stop.status == 202
    (final,) = [f for f in alice.frames("bot_stream") if f["is_complete"]]
    assert final["username"] == "helper" and final["stopped"] is True
    assert answer_of(rest, room, tokens["alice"], command)["username"] == "helper"
    assert deliver(stack) == [] and gemini.requests == []


# ------------------------------------------------------------------------------ what a bot sees
def context_of(rest, room, token, command: dict[str, Any]) -> list[str]:
    """The lines the fake answered `[fake:context]` with: what the bot was given."""
    return answer_of(rest, room, token, command)["content"].splitlines()


def test_each_bot_sees_its_own_answers_as_its_turns_and_the_others_by_name(
    rest, keyed_room, gemini, stack
):
    room, tokens = keyed_room("alice", "bob")
    add_bot(rest, room, tokens["alice"], "Reviewer")
    post(rest, room, tokens["alice"], "hello all")
    post(rest, room, tokens["bob"], "@reviewer check [fake:text=Looks fine]")
    assert deliver(stack) == []
    post(rest, room, tokens["alice"], "@bot summarize [fake:text=All good]")
    assert deliver(stack) == []

    command = post(rest, room, tokens["bob"], "@Reviewer what did you say? [fake:context]")
    assert deliver(stack) == []

    assert context_of(rest, room, tokens["bob"], command) == [
        "alice: hello all",
        "bob: @Reviewer check [fake:text=Looks fine]",
        "Reviewer: Looks fine",
        "alice: @bot summarize [fake:text=All good]",
        "bot: All good",
        "bob: @Reviewer what did you say? [fake:context]",
    ]
    turns = gemini.requests[-1].turns
    # its own answer is a model turn; the default bot's is a participant's line
    assert [role for role, _ in turns] == ["user", "model", "user"]
    assert turns[1][1] == "Looks fine"
    assert "bot: All good" in turns[2][1]
    assert "Other AI assistants in the room: bot" in gemini.requests[-1].system_instruction


def test_the_reply_chain_reaches_the_bot_past_the_recent_window(
    rest, keyed_room, gemini, stack, monkeypatch
):
    room, tokens = keyed_room("alice", "bob")
    root = post(rest, room, tokens["alice"], "the deploy key rotates on Fridays")
    middle = reply(rest, room, tokens["bob"], "are you sure?", root["message_id"])
    for index in range(45):  # more than the bot's recent window
        post(rest, room, tokens["alice"], f"chatter {index}")

    command = reply(rest, room, tokens["bob"], "@bot when? [fake:context]", middle["message_id"])
    assert deliver(stack) == []

    lines = context_of(rest, room, tokens["bob"], command)
    assert lines[:2] == ["alice: the deploy key rotates on Fridays", "bob: are you sure?"]
    assert "alice: chatter 0" not in lines  # older than the window
    assert lines[-2:] == ["alice: chatter 44", "bob: @bot when? [fake:context]"]


def test_a_bot_never_sees_deleted_messages(rest, keyed_room, gemini, stack):
    room, tokens = keyed_room("alice")
    secret = post(rest, room, tokens["alice"], "oops, a password")
    post(rest, room, tokens["alice"], "kept")
    path = f"/rooms/{room['room_id']}/messages/{secret['message_id']}"
    assert rest.delete(path, token=tokens["alice"]).status == 204

    command = post(rest, room, tokens["alice"], "@bot [fake:context]")
    assert deliver(stack) == []

    assert context_of(rest, room, tokens["alice"], command) == [
        "alice: kept",
        "alice: @bot [fake:context]",
    ]


def test_a_bot_never_sees_a_key(rest, keyed_room, gemini, stack):
    room, tokens = keyed_room("alice")
    add_bot(rest, room, tokens["alice"], "helper", gemini_api_key=REVIEWER_KEY)
    post(rest, room, tokens["alice"], "@helper [fake:context]")
    assert deliver(stack) == []
    (request,) = gemini.requests
    assert REVIEWER_KEY not in str(request.body) and API_KEY not in str(request.body)
    items = boto3.resource("dynamodb").Table("MessagesTable").scan()["Items"]
    assert REVIEWER_KEY not in str(items)
