"""The chat over the local stack of template.yaml: REST and WebSocket, as a client sees them."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from websockets.exceptions import InvalidStatus

from tests.e2e.conftest import LocalStackProcess, Rest, Socket, unique

PASSWORD = "correct horse battery"


@pytest.fixture(scope="module")
def rest(stack: LocalStackProcess) -> Rest:
    return Rest(stack.urls["rest"])


@pytest.fixture
def register(rest: Rest) -> Callable[[str], tuple[str, str]]:
    """register("alice") -> (unique username, access token)."""

    def _register(prefix: str) -> tuple[str, str]:
        username = unique(prefix)
        response = rest.post("/auth/register", {"username": username, "password": PASSWORD})
        assert response.status_code == 201, response.text
        return username, response.json()["access_token"]

    return _register


@pytest.fixture
def open_socket(stack: LocalStackProcess) -> Iterator[Callable[[str], Socket]]:
    sockets: list[Socket] = []

    def _open(token: str) -> Socket:
        sockets.append(Socket(f"{stack.urls['ws']}?token={token}"))
        return sockets[-1]

    yield _open
    for socket in sockets:
        socket.close()


@pytest.fixture
def room_of_two(rest: Rest, register, open_socket) -> dict[str, Any]:
    """alice's room that bob joined by its code, both connected and subscribed."""
    alice, alice_token = register("alice")
    bob, bob_token = register("bob")
    created = rest.post("/rooms", {"name": "e2e room"}, token=alice_token)
    assert created.status_code == 201, created.text
    room = created.json()
    joined = rest.post("/rooms/join", {"code": room["code"]}, token=bob_token)
    assert joined.status_code == 200, joined.text
    alice_socket, bob_socket = open_socket(alice_token), open_socket(bob_token)
    for socket in (alice_socket, bob_socket):
        socket.send(type="join", room_id=room["room_id"])
        socket.wait_for_type("joined", room_id=room["room_id"])
    return {
        "room": room,
        "alice": (alice, alice_token, alice_socket),
        "bob": (bob, bob_token, bob_socket),
    }


def test_register_log_in_and_who_am_i(rest: Rest, register) -> None:
    username, _ = register("carol")

    login = rest.post("/auth/login", {"username": username, "password": PASSWORD})
    me = rest.get("/auth/me", token=login.json()["access_token"])

    assert login.status_code == 200
    assert me.status_code == 200
    assert me.json()["username"] == username


@pytest.mark.parametrize(("method", "path"), [("GET", "/no/such/route"), ("PUT", "/auth/login")])
def test_api_gateway_answers_unknown_routes_itself_in_the_contracts_shape(rest, method, path):
    # GatewayResponses MISSING_AUTHENTICATION_TOKEN: 404, not API Gateway's own 403
    response = rest.request(method, path)

    assert response.status_code == 404
    assert response.json() == {"error": {"code": "not_found", "message": "No such route"}}
    assert response.headers["Access-Control-Allow-Origin"] == "*"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Cache-Control"] == "no-store"


def test_every_function_answer_is_nosniff_and_no_store(rest: Rest, register) -> None:
    username, token = register("dora")
    answers = [
        rest.post("/auth/login", {"username": username, "password": PASSWORD}),
        rest.post("/auth/login", {"username": username, "password": "wrong password"}),
        rest.get("/auth/me", token=token),
        rest.get("/rooms/nope", token=token),
        rest.post("/rooms", {"name": ""}, token=token),
    ]
    assert [a.status_code for a in answers] == [200, 401, 200, 404, 422]
    for answer in answers:
        assert answer.headers["X-Content-Type-Options"] == "nosniff"
        assert answer.headers["Cache-Control"] == "no-store"


def test_a_handshake_without_a_token_is_refused_with_401(stack: LocalStackProcess) -> None:
    with pytest.raises(InvalidStatus) as refused:
        Socket(stack.urls["ws"])

    assert refused.value.response.status_code == 401


def test_members_see_each_others_messages_and_presence(rest: Rest, room_of_two) -> None:
    room_id = room_of_two["room"]["room_id"]
    alice, _, alice_socket = room_of_two["alice"]
    bob, bob_token, bob_socket = room_of_two["bob"]

    alice_socket.send(type="message", room_id=room_id, content="hi bob", client_id="a-1")
    acknowledged = alice_socket.wait_for_type("message", client_id="a-1")
    posted = rest.post(f"/rooms/{room_id}/messages", {"content": "hi alice"}, token=bob_token)
    bob_socket.send(type="typing", room_id=room_id, is_typing=True)

    assert acknowledged["message_type"] == "text"
    assert posted.status_code == 201, posted.text
    for socket in (alice_socket, bob_socket):
        assert socket.wait_for_type("message", content="hi bob")["username"] == alice
        assert socket.wait_for_type("message", content="hi alice")["username"] == bob
    assert alice_socket.wait_for_type("presence", username=bob)["status"] == "online"
    assert alice_socket.wait_for_type("typing", username=bob)["is_typing"] is True
    history = rest.get(f"/rooms/{room_id}/messages", token=bob_token).json()["messages"]
    assert [m["content"] for m in history][-2:] == ["hi bob", "hi alice"]


def test_the_bot_streams_its_answer_to_everyone_and_it_lands_in_history(
    rest: Rest, room_of_two
) -> None:
    room_id = room_of_two["room"]["room_id"]
    _, alice_token, alice_socket = room_of_two["alice"]
    _, _, bob_socket = room_of_two["bob"]

    alice_socket.send(
        type="message", room_id=room_id, content="@bot what is a FIFO queue?", client_id="cmd-1"
    )

    command = alice_socket.wait_for_type("message", client_id="cmd-1")
    assert command["message_type"] == "command"
    answers = []
    for socket in (alice_socket, bob_socket):
        done = socket.wait_for_type(
            "bot_stream", timeout=30, is_complete=True, reply_to=command["message_id"]
        )
        chunks = [
            frame["chunk"]
            for frame in socket.frames
            if isinstance(frame, dict)
            and frame.get("type") == "bot_stream"
            and frame["message_id"] == done["message_id"]
            and not frame["is_complete"]
        ]
        assert chunks, "the answer arrived in one piece, not streamed"
        assert "".join(chunks) == done["full_response"]
        answers.append(done)
    assert answers[0]["message_id"] == answers[1]["message_id"]
    history = rest.get(f"/rooms/{room_id}/messages", token=alice_token).json()["messages"]
    stored = next(m for m in history if m["message_id"] == answers[0]["message_id"])
    assert stored["is_bot"] is True
    assert stored["reply_to"] == command["message_id"]
    assert stored["status"] == "complete"
    assert stored["content"] == answers[0]["full_response"]


@pytest.mark.parametrize(
    "body",
    [
        '{"type": "$connect"}',
        '{"type": "$disconnect"}',
        '{"type": "ping", "x": ' + "[" * 5000 + "]" * 5000 + "}",
        "[" * 5000,
        "not json",
    ],
    ids=["$connect", "$disconnect", "5000 deep", "5000 open brackets", "not json"],
)
def test_every_frame_is_answered_even_one_no_route_can_be_read_from(
    rest: Rest, register, open_socket, body: str
) -> None:
    _, token = register("eve")
    socket = open_socket(token)
    socket.connection.send(body)
    error = socket.wait_for_type("error")
    assert error["code"] == "bad_request", error
    socket.send(type="ping")  # and the connection still works
    socket.wait_for_type("pong")


def test_the_access_log_never_records_a_query_string(
    stack: LocalStackProcess, rest: Rest, register, open_socket
) -> None:
    _, token = register("fay")
    marker = "query-secret-" + token[-12:]
    assert rest.get(f"/auth/me?token={marker}", token=token).status_code == 200
    assert rest.get(f"/no/route?token={marker}").status_code == 404
    open_socket(token).send(type="ping")
    time.sleep(0.5)
    log = stack.log_path.read_text(errors="replace")
    assert "REST GET /auth/me -> AuthFunction 200" in log
    assert marker not in log and token not in log
