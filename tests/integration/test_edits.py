"""Editing (`PATCH`) and deleting (`DELETE`) messages, their frames, and what the bot sees."""

from __future__ import annotations

from typing import Any

import boto3
import pytest

from chat.dal import messages as store
from chat.ids import new_id, now_iso
from chat.logic.bot.context import build_model_input
from chat.models import BOT_USERNAME


def _post(rest, room_id: str, token: str, content: str, **extra: Any) -> dict[str, Any]:
    result = rest.post(f"/rooms/{room_id}/messages", {"content": content, **extra}, token=token)
    assert result.status == 201, result.body
    return result.body


def _path(room_id: str, message_id: str) -> str:
    return f"/rooms/{room_id}/messages/{message_id}"


def _history(rest, room_id: str, token: str) -> list[dict[str, Any]]:
    return rest.get(f"/rooms/{room_id}/messages", token=token).body["messages"]


def _bot_message(room_id: str, reply_to: str) -> dict[str, Any]:
    """A stored bot answer to the command `reply_to`, as the worker stores it."""
    item = {
        "message_id": new_id(),
        "room_id": room_id,
        "username": BOT_USERNAME,
        "content": "an answer",
        "message_type": "bot",
        "is_bot": True,
        "created_at": now_iso(),
        "reply_to": reply_to,
        "status": "complete",
    }
    assert store.put_reply(item)
    return item


UNKNOWN = "01JUNKNOWNMESSAGEID0000000"
_CODES = {403: "forbidden", 404: "not_found", 409: "conflict"}


def _stored(kind: str, rest, room_id: str, tokens: dict[str, str]) -> str:
    """The id of a message of the room of this kind (an id that names none: "unknown")."""
    if kind in ("alice's", "bob's"):
        author = kind.removesuffix("'s")
        return _post(rest, room_id, tokens[author], f"{author} wrote this")["message_id"]
    if kind in ("a command", "the bot's"):
        command = _post(rest, room_id, tokens["alice"], "@bot hi")
        return (
            command["message_id"]
            if kind == "a command"
            else _bot_message(room_id, command["message_id"])["message_id"]
        )
    if kind == "deleted":
        message_id = _post(rest, room_id, tokens["alice"], "gone soon")["message_id"]
        assert rest.delete(_path(room_id, message_id), token=tokens["alice"]).status == 204
        return message_id
    return UNKNOWN


# ------------------------------------------------------------------------------ edit
def test_the_author_edits_a_text_message_and_subscribers_get_message_updated(
    rest, room_with, connect
):
    room, tokens = room_with("alice", "bob")
    room_id = room["room_id"]
    original = _post(rest, room_id, tokens["alice"], "helo")
    watcher = connect(tokens["bob"])
    watcher.send({"type": "join", "room_id": room_id})
    # When alice fixes her typo
    result = rest.call(
        "PATCH",
        _path(room_id, original["message_id"]),
        body={"content": " hello "},
        token=tokens["alice"],
    )
    # Then the message has the new text and edited_at, same id/author/time
    assert result.status == 200, result.body
    edited = result.body
    assert edited["content"] == "hello"
    assert edited["edited_at"] is not None and edited["edited_at"].endswith("Z")
    for field in ("message_id", "username", "created_at", "message_type"):
        assert edited[field] == original[field]
    # And subscribers got the whole message as message_updated
    [frame] = watcher.frames("message_updated")
    assert frame == {"type": "message_updated", **edited}
    assert _history(rest, room_id, tokens["bob"])[-1]["content"] == "hello"


def test_an_edit_that_starts_with_at_bot_stays_a_text_message_and_is_not_queued(
    rest, room_with, stack
):
    room, tokens = room_with("alice")
    original = _post(rest, room["room_id"], tokens["alice"], "hello")
    result = rest.call(
        "PATCH",
        _path(room["room_id"], original["message_id"]),
        body={"content": "@bot what is 2+2?"},
        token=tokens["alice"],
    )
    assert result.status == 200
    assert result.body["message_type"] == "text"
    queued = boto3.client("sqs").receive_message(QueueUrl=stack["queue_url"]).get("Messages", [])
    assert queued == []


@pytest.mark.parametrize("content", ["", "   ", "\u200b\u200b", "x" * 4001])
def test_an_empty_or_too_long_edit_is_a_422_and_changes_nothing(rest, room_with, content):
    room, tokens = room_with("alice")
    original = _post(rest, room["room_id"], tokens["alice"], "keep me")
    result = rest.call(
        "PATCH",
        _path(room["room_id"], original["message_id"]),
        body={"content": content},
        token=tokens["alice"],
    )
    assert result.status == 422
    assert [d["field"] for d in result.body["error"]["details"]] == ["content"]
    message = _history(rest, room["room_id"], tokens["alice"])[-1]
    assert message["content"] == "keep me" and message["edited_at"] is None


@pytest.mark.parametrize(
    ("kind", "editor", "status"),
    [
        ("alice's", "bob", 403),  # only the author edits
        ("bob's", "alice", 403),  # the owner neither
        ("a command", "alice", 409),
        ("the bot's", "alice", 409),
        ("deleted", "alice", 409),
        ("unknown", "alice", 404),
        ("alice's", "eve", 404),  # not a member
    ],
)
def test_an_edit_that_is_not_allowed_is_refused_and_changes_nothing(
    rest, room_with, register, kind, editor, status
):
    room, tokens = room_with("alice", "bob")
    tokens = {**tokens, "eve": register("eve")}
    room_id = room["room_id"]
    message_id = _stored(kind, rest, room_id, tokens)
    before = _history(rest, room_id, tokens["alice"])
    result = rest.call(
        "PATCH", _path(room_id, message_id), body={"content": "changed"}, token=tokens[editor]
    )
    assert (result.status, result.error_code) == (status, _CODES[status]), result.body
    assert _history(rest, room_id, tokens["alice"]) == before


# ------------------------------------------------------------------------------ delete
def test_the_author_deletes_and_a_tombstone_stays_in_history(rest, room_with, connect):
    room, tokens = room_with("alice", "bob")
    room_id = room["room_id"]
    original = _post(rest, room_id, tokens["alice"], "oops")
    rest.put(
        f"/rooms/{room_id}/messages/{original['message_id']}/reactions/👍", token=tokens["bob"]
    )
    watcher = connect(tokens["bob"])
    watcher.send({"type": "join", "room_id": room_id})
    # When alice deletes her message
    result = rest.delete(_path(room_id, original["message_id"]), token=tokens["alice"])
    # Then 204, a tombstone with the same id, author and time, and a frame
    assert result.status == 204
    assert result.body is None
    [tombstone] = _history(rest, room_id, tokens["bob"])
    assert tombstone["deleted"] is True
    assert tombstone["content"] == ""
    assert tombstone["reactions"] == [] and tombstone["attachments"] == []
    for field in ("message_id", "username", "created_at"):
        assert tombstone[field] == original[field]
    assert watcher.frames("message_deleted") == [
        {"type": "message_deleted", "room_id": room_id, "message_id": original["message_id"]}
    ]


def test_deleting_again_is_a_no_op_without_a_second_frame(rest, room_with, connect):
    room, tokens = room_with("alice")
    room_id = room["room_id"]
    original = _post(rest, room_id, tokens["alice"], "oops")
    watcher = connect(tokens["alice"])
    watcher.send({"type": "join", "room_id": room_id})
    first = rest.delete(_path(room_id, original["message_id"]), token=tokens["alice"])
    second = rest.delete(_path(room_id, original["message_id"]), token=tokens["alice"])
    assert (first.status, second.status) == (204, 204)
    assert len(watcher.frames("message_deleted")) == 1


def test_the_owner_may_delete_anyones_message_and_the_bots(rest, room_with):
    room, tokens = room_with("alice", "bob")
    room_id = room["room_id"]
    bobs = _post(rest, room_id, tokens["bob"], "spam")
    command = _post(rest, room_id, tokens["bob"], "@bot spam more")
    answer = _bot_message(room_id, command["message_id"])
    for message in (bobs, answer):
        assert (
            rest.delete(_path(room_id, message["message_id"]), token=tokens["alice"]).status == 204
        )
    deleted = {m["message_id"]: m["deleted"] for m in _history(rest, room_id, tokens["alice"])}
    assert deleted == {
        bobs["message_id"]: True,
        command["message_id"]: False,
        answer["message_id"]: True,
    }


@pytest.mark.parametrize(
    ("kind", "deleter", "status"),
    [
        ("alice's", "bob", 403),  # a member deletes only their own
        ("the bot's", "bob", 403),  # and never the bot's
        ("unknown", "alice", 404),
        ("alice's", "eve", 404),  # not a member
    ],
)
def test_a_delete_that_is_not_allowed_is_refused_and_changes_nothing(
    rest, room_with, register, kind, deleter, status
):
    room, tokens = room_with("alice", "bob")
    tokens = {**tokens, "eve": register("eve")}
    room_id = room["room_id"]
    message_id = _stored(kind, rest, room_id, tokens)
    before = _history(rest, room_id, tokens["alice"])
    result = rest.delete(_path(room_id, message_id), token=tokens[deleter])
    assert (result.status, result.error_code) == (status, _CODES[status]), result.body
    assert _history(rest, room_id, tokens["alice"]) == before


# ------------------------------------------------------------------------------ the bot
def test_the_bot_sees_edited_text_and_nothing_of_deleted_messages(rest, room_with):
    room, tokens = room_with("alice", "bob")
    room_id = room["room_id"]
    edited = _post(rest, room_id, tokens["alice"], "the meeting is at 3")
    deleted = _post(rest, room_id, tokens["bob"], "my password is hunter2")
    rest.call(
        "PATCH",
        _path(room_id, edited["message_id"]),
        body={"content": "the meeting is at 4"},
        token=tokens["alice"],
    )
    rest.delete(_path(room_id, deleted["message_id"]), token=tokens["bob"])
    command = _post(rest, room_id, tokens["bob"], "@bot when is the meeting?")
    # What the worker reads: the stored history before the command, and the command
    history = store.page(room_id, 40, command["message_id"])[0]
    model_input = build_model_input(
        room_name="general",
        members=["alice", "bob"],
        system_prompt=None,
        history=[*history, store.get_message(room_id, command["message_id"])],
        command=store.get_message(room_id, command["message_id"]),
    )
    text = "\n".join(turn.text for turn in model_input.contents)
    assert "the meeting is at 4" in text
    assert "at 3" not in text
    assert "hunter2" not in text
    # and no empty turn where the deleted message was
    assert all(line.split(": ", 1)[-1].strip() for line in text.splitlines())
