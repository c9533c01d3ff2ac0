"""Catching up with `?after=` and replies (`reply_to`) over REST and WebSocket."""

from __future__ import annotations

from typing import Any

import pytest

from tests.support.dynamo import count_dynamodb_calls


def _post(rest, room_id: str, token: str, content: str, **extra: Any):
    return rest.post(f"/rooms/{room_id}/messages", {"content": content, **extra}, token=token)


def _ids(rest, room_id: str, token: str, count: int) -> list[str]:
    ids = []
    for i in range(count):
        result = _post(rest, room_id, token, f"m{i}")
        assert result.status == 201, result.body
        ids.append(result.body["message_id"])
    return ids


# ------------------------------------------------------------------------------ after
def test_after_returns_the_newer_messages_oldest_first_in_pages(rest, room_with):
    # Given a room with 7 messages
    room, tokens = room_with("alice")
    room_id, token = room["room_id"], tokens["alice"]
    ids = _ids(rest, room_id, token, 7)
    path = f"/rooms/{room_id}/messages"
    # When a client catches up from the 2nd message, 3 at a time
    first = rest.get(path, token=token, query={"after": ids[1], "limit": "3"})
    second = rest.get(path, token=token, query={"after": first.body["next_after"], "limit": "3"})
    # Then the pages hold the newer messages, oldest -> newest, and the last one says so
    assert first.status == 200, first.body
    assert set(first.body) == {"messages", "next_after"}
    assert [m["message_id"] for m in first.body["messages"]] == ids[2:5]
    assert first.body["next_after"] == ids[4]
    assert [m["message_id"] for m in second.body["messages"]] == ids[5:7]
    assert second.body["next_after"] is None


def test_after_the_newest_message_is_an_empty_page(rest, room_with):
    room, tokens = room_with("alice")
    ids = _ids(rest, room["room_id"], tokens["alice"], 2)
    result = rest.get(
        f"/rooms/{room['room_id']}/messages", token=tokens["alice"], query={"after": ids[-1]}
    )
    assert result.status == 200
    assert result.body == {"messages": [], "next_after": None}


def test_a_full_last_page_still_says_when_nothing_newer_exists(rest, room_with):
    room, tokens = room_with("alice")
    ids = _ids(rest, room["room_id"], tokens["alice"], 4)
    result = rest.get(
        f"/rooms/{room['room_id']}/messages",
        token=tokens["alice"],
        query={"after": ids[0], "limit": "3"},
    )
    assert [m["message_id"] for m in result.body["messages"]] == ids[1:]
    assert result.body["next_after"] is None


def test_before_and_after_together_is_a_422_naming_both(rest, room_with):
    room, tokens = room_with("alice")
    ids = _ids(rest, room["room_id"], tokens["alice"], 2)
    result = rest.get(
        f"/rooms/{room['room_id']}/messages",
        token=tokens["alice"],
        query={"after": ids[0], "before": ids[1]},
    )
    assert result.status == 422
    assert result.error_code == "validation_error"
    assert {d["field"] for d in result.body["error"]["details"]} == {"before", "after"}


def test_after_is_for_members_only(rest, room_with, register):
    room, tokens = room_with("alice")
    ids = _ids(rest, room["room_id"], tokens["alice"], 1)
    result = rest.get(
        f"/rooms/{room['room_id']}/messages", token=register("eve"), query={"after": ids[0]}
    )
    assert result.status == 404


def test_after_costs_one_query_whatever_the_room_size(rest, room_with):
    room, tokens = room_with("alice")
    ids = _ids(rest, room["room_id"], tokens["alice"], 30)
    with count_dynamodb_calls() as calls:
        rest.get(
            f"/rooms/{room['room_id']}/messages",
            token=tokens["alice"],
            query={"after": ids[0], "limit": "5"},
        )
    assert calls["Query"] == 1
    assert "Scan" not in calls


# ------------------------------------------------------------------------------ replies
def test_a_reply_names_the_message_it_answers_in_history_and_frames(rest, room_with, connect):
    room, tokens = room_with("alice", "bob")
    room_id = room["room_id"]
    original = _post(rest, room_id, tokens["alice"], "lunch?").body
    watcher = connect(tokens["alice"])
    watcher.send({"type": "join", "room_id": room_id})
    # When bob replies to it
    reply = _post(rest, room_id, tokens["bob"], "yes!", reply_to=original["message_id"])
    # Then the reply carries reply_to in the response, the frame and the history
    assert reply.status == 201, reply.body
    assert reply.body["reply_to"] == original["message_id"]
    assert watcher.frames("message")[-1]["reply_to"] == original["message_id"]
    history = rest.get(f"/rooms/{room_id}/messages", token=tokens["alice"]).body["messages"]
    assert history[-1]["reply_to"] == original["message_id"]
    assert history[0]["reply_to"] is None


def test_a_reply_over_the_websocket_is_acknowledged_with_reply_to(rest, room_with, connect):
    room, tokens = room_with("alice")
    room_id = room["room_id"]
    original = _post(rest, room_id, tokens["alice"], "first").body
    client = connect(tokens["alice"])
    client.send(
        {
            "type": "message",
            "room_id": room_id,
            "content": "second",
            "client_id": "c-1",
            "reply_to": original["message_id"],
        }
    )
    ack = client.frames("message")[-1]
    assert ack["client_id"] == "c-1"
    assert ack["reply_to"] == original["message_id"]


@pytest.mark.parametrize("where", ["unknown", "other room"])
def test_reply_to_a_message_not_in_this_room_is_a_422_and_stores_nothing(
    rest, room_with, register, where
):
    room, tokens = room_with("alice")
    other = rest.post("/rooms", {"name": "other"}, token=tokens["alice"]).body
    foreign = _post(rest, other["room_id"], tokens["alice"], "elsewhere").body["message_id"]
    reply_to = foreign if where == "other room" else "01JUNKNOWNMESSAGEID0000000"
    result = _post(rest, room["room_id"], tokens["alice"], "hello", reply_to=reply_to)
    assert result.status == 422
    assert result.error_code == "validation_error"
    assert [d["field"] for d in result.body["error"]["details"]] == ["reply_to"]
    history = rest.get(f"/rooms/{room['room_id']}/messages", token=tokens["alice"]).body
    assert history["messages"] == []


def test_a_malformed_reply_to_is_a_422(rest, room_with):
    room, tokens = room_with("alice")
    result = _post(rest, room["room_id"], tokens["alice"], "hello", reply_to="no/such id")
    assert result.status == 422
    assert [d["field"] for d in result.body["error"]["details"]] == ["reply_to"]


def test_a_foreign_reply_to_over_the_websocket_is_an_error_frame(rest, room_with, connect):
    room, tokens = room_with("alice")
    other = rest.post("/rooms", {"name": "other"}, token=tokens["alice"]).body
    foreign = _post(rest, other["room_id"], tokens["alice"], "elsewhere").body["message_id"]
    client = connect(tokens["alice"])
    client.send(
        {"type": "message", "room_id": room["room_id"], "content": "x", "reply_to": foreign}
    )
    [error] = client.frames("error")
    assert error["code"] == "validation_error"
    assert "reply_to" in error["message"]
    assert error["request_type"] == "message"
    assert client.frames("message") == []


def test_a_reply_that_starts_with_at_bot_is_still_a_command(rest, room_with, stack):
    room, tokens = room_with("alice")
    original = _post(rest, room["room_id"], tokens["alice"], "what is 2+2?").body
    result = _post(
        rest, room["room_id"], tokens["alice"], "@bot answer this", reply_to=original["message_id"]
    )
    assert result.status == 201, result.body
    assert result.body["message_type"] == "command"
    assert result.body["reply_to"] == original["message_id"]
