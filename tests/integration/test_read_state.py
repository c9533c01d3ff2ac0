"""Read state: PUT /rooms/{id}/read, unread counts in GET /rooms, members' pointers, frames."""

from __future__ import annotations

from typing import Any

from chat.dal import messages as store
from chat.ids import new_id, now_iso
from chat.models import BOT_USERNAME
from tests.support.dynamo import count_dynamodb_calls


def _post(rest, room_id: str, token: str, content: str = "hi") -> str:
    result = rest.post(f"/rooms/{room_id}/messages", {"content": content}, token=token)
    assert result.status == 201, result.body
    return result.body["message_id"]


def _read(rest, room_id: str, token: str, message_id: str):
    return rest.put(f"/rooms/{room_id}/read", {"message_id": message_id}, token=token)


def _summary(rest, room_id: str, token: str) -> dict[str, Any]:
    result = rest.get("/rooms", token=token)
    assert result.status == 200, result.body
    return next(room for room in result.body["rooms"] if room["room_id"] == room_id)


def test_unread_counts_others_messages_after_the_last_read_one(rest, room_with):
    room, tokens = room_with("alice", "bob")
    room_id = room["room_id"]
    first = _post(rest, room_id, tokens["bob"])
    _post(rest, room_id, tokens["alice"])  # her own: never unread for her
    _post(rest, room_id, tokens["bob"])
    # Then before reading, alice has bob's two messages unread and no pointer
    summary = _summary(rest, room_id, tokens["alice"])
    assert summary["last_read_message_id"] is None
    assert summary["unread_count"] == 2
    # When she marks the first one read
    result = _read(rest, room_id, tokens["alice"], first)
    # Then one is left, in the answer and in GET /rooms
    assert result.status == 200, result.body
    assert result.body == {"last_read_message_id": first, "unread_count": 1}
    summary = _summary(rest, room_id, tokens["alice"])
    assert (summary["last_read_message_id"], summary["unread_count"]) == (first, 1)


def test_the_bots_messages_count_as_unread(rest, room_with):
    room, tokens = room_with("alice")
    room_id = room["room_id"]
    command = _post(rest, room_id, tokens["alice"], "@bot hi")
    store.put_reply(
        {
            "message_id": new_id(),
            "room_id": room_id,
            "username": BOT_USERNAME,
            "content": "hello!",
            "message_type": "bot",
            "is_bot": True,
            "created_at": now_iso(),
            "reply_to": command,
            "status": "complete",
        }
    )
    from chat.dal.rooms import touch_last_message

    touch_last_message(room_id, now_iso())
    assert _summary(rest, room_id, tokens["alice"])["unread_count"] == 1


def test_unread_counts_stop_at_100_even_with_own_messages_in_between(rest, room_with):
    room, tokens = room_with("alice", "bob")
    room_id = room["room_id"]
    for i in range(105):
        _post(rest, room_id, tokens["bob"], f"b{i}")
        if i % 3 == 0:
            _post(rest, room_id, tokens["alice"], f"a{i}")
    assert _summary(rest, room_id, tokens["alice"])["unread_count"] == 100
    assert _summary(rest, room_id, tokens["bob"])["unread_count"] == 35


def test_an_exact_count_when_own_messages_fill_the_first_pages(rest, room_with):
    # DynamoDB's Limit counts items read before the filter: 150 own messages after 3 of
    # bob's must still count 3, not 0.
    room, tokens = room_with("alice", "bob")
    room_id = room["room_id"]
    for _ in range(3):
        _post(rest, room_id, tokens["bob"])
    for i in range(150):
        _post(rest, room_id, tokens["alice"], f"a{i}")
    assert _summary(rest, room_id, tokens["alice"])["unread_count"] == 3


def test_marking_an_older_message_changes_nothing(rest, room_with, connect):
    room, tokens = room_with("alice", "bob")
    room_id = room["room_id"]
    older = _post(rest, room_id, tokens["bob"])
    newer = _post(rest, room_id, tokens["bob"])
    _read(rest, room_id, tokens["alice"], newer)
    watcher = connect(tokens["bob"])
    watcher.send({"type": "join", "room_id": room_id})
    result = _read(rest, room_id, tokens["alice"], older)
    assert result.status == 200
    assert result.body == {"last_read_message_id": newer, "unread_count": 0}
    assert watcher.frames("read") == []


def test_others_get_a_read_frame_and_the_reader_does_not(rest, room_with, connect):
    room, tokens = room_with("alice", "bob")
    room_id = room["room_id"]
    message = _post(rest, room_id, tokens["bob"])
    alice_socket, bob_socket = connect(tokens["alice"]), connect(tokens["bob"])
    for socket in (alice_socket, bob_socket):
        socket.send({"type": "join", "room_id": room_id})
    _read(rest, room_id, tokens["alice"], message)
    assert bob_socket.frames("read") == [
        {"type": "read", "room_id": room_id, "username": "alice", "message_id": message}
    ]
    assert alice_socket.frames("read") == []


def test_members_show_their_last_read_message(rest, room_with):
    room, tokens = room_with("alice", "bob")
    room_id = room["room_id"]
    message = _post(rest, room_id, tokens["bob"])
    _read(rest, room_id, tokens["alice"], message)
    members = rest.get(f"/rooms/{room_id}/members", token=tokens["bob"]).body["members"]
    pointers = {m["username"]: m["last_read_message_id"] for m in members}
    assert pointers == {"alice": message, "bob": None, "bot": None}
    room_view = rest.get(f"/rooms/{room_id}", token=tokens["bob"]).body
    assert {m["username"]: m["last_read_message_id"] for m in room_view["members"]} == pointers


def test_marking_a_message_of_another_room_is_a_422_and_changes_nothing(rest, room_with):
    room, tokens = room_with("alice")
    other = rest.post("/rooms", {"name": "other"}, token=tokens["alice"]).body
    foreign = _post(rest, other["room_id"], tokens["alice"])
    result = _read(rest, room["room_id"], tokens["alice"], foreign)
    assert result.status == 422
    assert [d["field"] for d in result.body["error"]["details"]] == ["message_id"]
    assert _summary(rest, room["room_id"], tokens["alice"])["last_read_message_id"] is None


def test_bad_read_bodies_and_non_members(rest, room_with, register):
    room, tokens = room_with("alice")
    message = _post(rest, room["room_id"], tokens["alice"])
    missing = rest.put(f"/rooms/{room['room_id']}/read", {}, token=tokens["alice"])
    malformed = _read(rest, room["room_id"], tokens["alice"], "not an id!")
    outsider = _read(rest, room["room_id"], register("eve"), message)
    assert missing.status == malformed.status == 422
    assert outsider.status == 404


def test_list_rooms_costs_at_most_one_count_query_per_room(rest, register):
    # Given alice in 6 rooms: 4 with news for her, one she has read, one never used
    alice, bob = register("alice"), register("bob")
    rooms = [rest.post("/rooms", {"name": f"r{i}"}, token=bob).body for i in range(6)]
    for room in rooms:
        rest.post("/rooms/join", {"code": room["code"]}, token=alice)
    for room in rooms[:4]:
        for _ in range(3):
            _post(rest, room["room_id"], bob)
    latest = _post(rest, rooms[4]["room_id"], bob)
    _read(rest, rooms[4]["room_id"], alice, latest)
    # When she lists her rooms
    with count_dynamodb_calls() as calls:
        result = rest.get("/rooms", token=alice)
    # Then: memberships (1 Query), rooms and her pointers (2 BatchGetItem), one COUNT
    # Query per room that has messages (the never-used room costs nothing), and one Query of
    # her mention inbox for the rooms with something unread
    counts = {room["room_id"]: room["unread_count"] for room in result.body["rooms"]}
    assert [counts[room["room_id"]] for room in rooms] == [3, 3, 3, 3, 0, 0]
    assert calls["Query"] == 1 + 5 + 1
    assert calls["BatchGetItem"] == 2
    assert "Scan" not in calls
