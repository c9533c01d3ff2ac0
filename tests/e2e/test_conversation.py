"""Conversation features over the local stack: the frames as real WebSocket clients see them."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import quote

import pytest

from tests.e2e.conftest import LocalStackProcess, Rest, Socket, unique

PASSWORD = "correct horse battery"


@pytest.fixture(scope="module")
def rest(stack: LocalStackProcess) -> Rest:
    return Rest(stack.urls["rest"])


@pytest.fixture
def people(rest: Rest, stack: LocalStackProcess) -> Iterator[Callable[..., dict[str, Any]]]:
    """people("alice", "bob") -> a room owned by the first, every person joined over REST and
    subscribed over a real socket: {"room": Room, name: (username, token, Socket)}."""
    sockets: list[Socket] = []

    def _people(*prefixes: str) -> dict[str, Any]:
        found: dict[str, Any] = {}
        for prefix in prefixes:
            username = unique(prefix)
            response = rest.post("/auth/register", {"username": username, "password": PASSWORD})
            assert response.status_code == 201, response.text
            found[prefix] = [username, response.json()["access_token"]]
        room = rest.post("/rooms", {"name": "e2e"}, token=found[prefixes[0]][1]).json()
        for prefix in prefixes[1:]:
            joined = rest.post("/rooms/join", {"code": room["code"]}, token=found[prefix][1])
            assert joined.status_code == 200, joined.text
        for prefix in prefixes:
            socket = Socket(f"{stack.urls['ws']}?token={found[prefix][1]}")
            sockets.append(socket)
            socket.send(type="join", room_id=room["room_id"])
            socket.wait_for_type("joined", room_id=room["room_id"])
            found[prefix] = (*found[prefix], socket)
        found["room"] = room
        return found

    yield _people
    for socket in sockets:
        socket.close()


def test_reply_edit_react_read_and_delete_reach_the_other_socket(rest: Rest, people) -> None:
    found = people("alice", "bob")
    room_id = found["room"]["room_id"]
    _, alice_token, alice_socket = found["alice"]
    bob, bob_token, bob_socket = found["bob"]

    # a message, and a reply to it over the WebSocket
    first = rest.post(f"/rooms/{room_id}/messages", {"content": "helo"}, token=alice_token).json()
    bob_socket.send(
        type="message",
        room_id=room_id,
        content="hi!",
        client_id="r-1",
        reply_to=first["message_id"],
    )
    reply = alice_socket.wait_for_type("message", client_id="r-1")
    assert reply["reply_to"] == first["message_id"]

    # an edit
    path = f"/rooms/{room_id}/messages/{first['message_id']}"
    edited = rest.request("PATCH", path, {"content": "hello"}, token=alice_token)
    assert edited.status_code == 200, edited.text
    updated = bob_socket.wait_for_type("message_updated", message_id=first["message_id"])
    assert updated["content"] == "hello" and updated["edited_at"]

    # a reaction: the emoji URL-encoded in the path, as a browser sends it
    reacted = rest.request("PUT", f"{path}/reactions/{quote('🎉')}", token=bob_token)
    assert reacted.status_code == 200, reacted.text
    assert reacted.json()["reactions"] == [{"emoji": "🎉", "count": 1, "usernames": [bob]}]
    frame = alice_socket.wait_for_type("reaction", message_id=first["message_id"])
    assert (frame["emoji"], frame["username"], frame["added"], frame["count"]) == (
        "🎉",
        bob,
        True,
        1,
    )

    # a read mark: alice hears of bob's, bob does not hear of his own
    marked = rest.request(
        "PUT", f"/rooms/{room_id}/read", {"message_id": reply["message_id"]}, token=bob_token
    )
    assert marked.json() == {"last_read_message_id": reply["message_id"], "unread_count": 0}
    read = alice_socket.wait_for_type("read", username=bob)
    assert read["message_id"] == reply["message_id"]

    # a deletion
    assert rest.request("DELETE", path, token=alice_token).status_code == 204
    bob_socket.wait_for_type("message_deleted", message_id=first["message_id"])

    # and catching up with ?after= sees the reply; the history shows the tombstone
    caught_up = rest.get(
        f"/rooms/{room_id}/messages?after={first['message_id']}", token=bob_token
    ).json()
    assert [m["message_id"] for m in caught_up["messages"]] == [reply["message_id"]]
    assert caught_up["next_after"] is None
    history = rest.get(f"/rooms/{room_id}/messages", token=bob_token).json()["messages"]
    assert history[0]["deleted"] is True and history[0]["content"] == ""
    assert not any(isinstance(f, dict) and f.get("type") == "read" for f in bob_socket.frames)


def test_moderation_frames_rename_and_removal(rest: Rest, people) -> None:
    found = people("alice", "bob", "carol")
    room_id = found["room"]["room_id"]
    _, alice_token, alice_socket = found["alice"]
    bob, _, bob_socket = found["bob"]
    _, carol_token, carol_socket = found["carol"]

    renamed = rest.request("PATCH", f"/rooms/{room_id}", {"name": "renamed"}, token=alice_token)
    assert renamed.status_code == 200, renamed.text
    for socket in (alice_socket, bob_socket, carol_socket):
        socket.wait_for_type("room_updated", room_id=room_id, name="renamed")

    removed = rest.request("DELETE", f"/rooms/{room_id}/members/{bob}", token=alice_token)
    assert removed.status_code == 204, removed.text
    bob_socket.wait_for_type("removed", room_id=room_id)
    carol_socket.wait_for_type("presence", username=bob, status="offline")

    # bob's socket is no longer subscribed: carol's next message does not reach it
    rest.post(f"/rooms/{room_id}/messages", {"content": "after bob"}, token=carol_token)
    alice_socket.wait_for_type("message", content="after bob")
    assert not any(
        isinstance(f, dict) and f.get("content") == "after bob" for f in bob_socket.frames
    )

    rotated = rest.post(f"/rooms/{room_id}/code", token=alice_token)
    assert rotated.status_code == 200
    assert rotated.json()["code"] != found["room"]["code"]
