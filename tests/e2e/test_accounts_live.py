"""Accounts on the local stack, over real sockets: a logout closes the sockets opened with its
token within 5 seconds; a password change revokes every earlier token; a closed account's
messages are erased by the eraser running from its queue (docs/accounts.md)."""

from __future__ import annotations

import time

import pytest
from websockets.exceptions import InvalidStatus

from tests.e2e.conftest import LocalStackProcess, Rest, Socket, unique

PASSWORD = "correct horse battery"


@pytest.fixture
def rest(stack: LocalStackProcess) -> Rest:
    return Rest(stack.urls["rest"])


def _register(rest: Rest) -> tuple[str, str]:
    username = unique("acct")
    response = rest.post("/auth/register", {"username": username, "password": PASSWORD})
    assert response.status_code == 201, response.text
    return username, response.json()["access_token"]


def _login(rest: Rest, username: str) -> str:
    response = rest.post("/auth/login", {"username": username, "password": PASSWORD})
    assert response.status_code == 200, response.text
    return response.json()["access_token"]


def _refused_at_handshake(stack: LocalStackProcess, token: str) -> None:
    with pytest.raises(InvalidStatus) as refused:
        Socket(f"{stack.urls['ws']}?token={token}")
    assert refused.value.response.status_code == 401


def test_logout_closes_the_open_socket_of_its_token_within_5_seconds(
    stack: LocalStackProcess, rest: Rest
) -> None:
    # Given alice has two sessions, each with an open socket
    username, phone = _register(rest)
    laptop = _login(rest, username)
    phone_socket = Socket(f"{stack.urls['ws']}?token={phone}")
    laptop_socket = Socket(f"{stack.urls['ws']}?token={laptop}")
    for socket in (phone_socket, laptop_socket):
        socket.send(type="ping")
        socket.wait_for_type("pong")
    # When she logs out on her phone
    started = time.monotonic()
    assert rest.post("/auth/logout", token=phone).status_code == 204
    # Then its socket gets the unauthorized error frame and is closed, within 5 seconds
    error = phone_socket.wait_for_type("error", timeout=5)
    assert (error["code"], error["request_type"]) == ("unauthorized", None)
    assert phone_socket.closed.wait(max(0.1, 5 - (time.monotonic() - started)))
    # and the token no longer works; the laptop's socket and token do
    assert rest.get("/auth/me", token=phone).status_code == 401
    _refused_at_handshake(stack, phone)
    laptop_socket.send(type="ping")
    laptop_socket.wait_for(lambda f: laptop_socket.frames.count({"type": "pong"}) == 2)
    assert not laptop_socket.closed.is_set()
    assert not [f for f in laptop_socket.frames if f.get("type") == "error"]
    assert rest.get("/auth/me", token=laptop).status_code == 200
    laptop_socket.close()


def test_a_password_change_revokes_every_earlier_token(
    stack: LocalStackProcess, rest: Rest
) -> None:
    _, first = _register(rest)
    socket = Socket(f"{stack.urls['ws']}?token={first}")
    socket.send(type="ping")
    socket.wait_for_type("pong")
    response = rest.request(
        "PUT",
        "/auth/password",
        {"current_password": PASSWORD, "new_password": "a much better one"},
        token=first,
    )
    assert response.status_code == 200, response.text
    socket.wait_for_type("error", timeout=5, code="unauthorized")
    assert socket.closed.wait(5)
    assert rest.get("/auth/me", token=first).status_code == 401
    assert rest.get("/auth/me", token=response.json()["access_token"]).status_code == 200


def test_a_closed_accounts_messages_are_erased_by_the_eraser_within_60_seconds(
    stack: LocalStackProcess, rest: Rest
) -> None:
    # Given alice wrote in bob's room, which bob watches
    alice, alice_token = _register(rest)
    _, bob_token = _register(rest)
    room = rest.post("/rooms", {"name": "erasure"}, token=bob_token).json()
    assert rest.post("/rooms/join", {"code": room["code"]}, token=alice_token).status_code == 200
    path = f"/rooms/{room['room_id']}/messages"
    said = rest.post(path, {"content": "forget me"}, token=alice_token).json()
    kept = rest.post(path, {"content": "bob stays"}, token=bob_token).json()
    watcher = Socket(f"{stack.urls['ws']}?token={bob_token}")
    watcher.send(type="join", room_id=room["room_id"])
    watcher.wait_for_type("joined", room_id=room["room_id"])
    # When she closes her account asking for her messages to be erased
    response = rest.request(
        "DELETE", "/auth/me", {"password": PASSWORD, "erase_messages": True}, token=alice_token
    )
    assert response.status_code == 204, response.text
    # Then she left at once; within 60 s her message is a tombstone and the room heard it
    members = rest.get(f"/rooms/{room['room_id']}/members", token=bob_token).json()["members"]
    assert alice not in {m["username"] for m in members}
    watcher.wait_for_type("message_deleted", timeout=60, message_id=said["message_id"])
    history = {m["message_id"]: m for m in rest.get(path, token=bob_token).json()["messages"]}
    assert (history[said["message_id"]]["deleted"], history[said["message_id"]]["content"]) == (
        True,
        "",
    )
    assert history[said["message_id"]]["username"] == alice
    assert history[kept["message_id"]]["deleted"] is False
    # and the name stays taken
    again = rest.post("/auth/register", {"username": alice, "password": PASSWORD})
    assert again.status_code == 409
    assert "-> AccountEraserFunction" in stack.log_tail(2000)
    watcher.close()
