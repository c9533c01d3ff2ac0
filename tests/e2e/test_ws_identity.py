"""WebSocket identity over real sockets: the local gateway runs the template's $connect
authorizer like API Gateway (401 refuses the handshake; its context reaches every route),
and a socket whose token expired is told so and closed."""

from __future__ import annotations

import time

import boto3
import jwt
import pytest
from websockets.exceptions import InvalidStatus

from tests.e2e.conftest import LocalStackProcess, Rest, Socket, unique

PASSWORD = "correct horse battery"


@pytest.fixture(scope="module")
def rest(stack: LocalStackProcess) -> Rest:
    return Rest(stack.urls["rest"])


def _register(rest: Rest) -> tuple[str, str, dict]:
    username = unique("ident")
    response = rest.post("/auth/register", {"username": username, "password": PASSWORD})
    assert response.status_code == 201, response.text
    token = response.json()["access_token"]
    return username, token, jwt.decode(token, options={"verify_signature": False})


def _signing_key(stack: LocalStackProcess) -> str:
    """The stack's JWT signing key, from its Secrets Manager (moto) secret."""
    secrets = boto3.client(
        "secretsmanager",
        endpoint_url=stack.urls["aws"],
        region_name="us-east-1",
        aws_access_key_id="local",
        aws_secret_access_key="local",
    )
    (arn,) = [s["ARN"] for s in secrets.list_secrets()["SecretList"] if "JwtSecret" in s["Name"]]
    return secrets.get_secret_value(SecretId=arn)["SecretString"]


def test_bad_tokens_are_refused_by_the_templates_authorizer(
    stack: LocalStackProcess, rest: Rest
) -> None:
    _, token, claims = _register(rest)
    forged = jwt.encode({**claims}, "not-the-key-not-the-key-not-the-key!", "HS256")
    expired = jwt.encode(
        {**claims, "iat": claims["iat"] - 7200, "exp": claims["iat"] - 3600},
        _signing_key(stack),
        "HS256",
    )
    for bad in (forged, expired, "not.a.jwt"):
        with pytest.raises(InvalidStatus) as refused:
            Socket(f"{stack.urls['ws']}?token={bad}")
        assert refused.value.response.status_code == 401
    # It was the authorizer that refused them, run as a function of the template
    assert "-> WsAuthorizerFunction 401" in stack.log_tail(400)
    # and a good token still opens a socket that knows its user
    socket = Socket(f"{stack.urls['ws']}?token={token}")
    try:
        socket.send(type="ping")
        assert socket.wait_for_type("pong") == {"type": "pong"}
    finally:
        socket.close()


def test_a_socket_whose_token_expired_gets_unauthorized_and_is_closed(
    stack: LocalStackProcess, rest: Rest
) -> None:
    # Given a socket opened with a token that expires in 3 seconds
    _, _, claims = _register(rest)
    now = int(time.time())
    token = jwt.encode(
        {**claims, "iat": now, "exp": now + 3, "jti": "short-lived"},
        _signing_key(stack),
        "HS256",
    )
    socket = Socket(f"{stack.urls['ws']}?token={token}")
    socket.send(type="ping")
    socket.wait_for_type("pong")
    # When it sends a frame after that
    time.sleep(max(0.0, now + 3.5 - time.time()))
    socket.send(type="ping")
    # Then it gets an unauthorized error frame and the server closes it
    error = socket.wait_for_type("error")
    assert (error["code"], error["request_type"]) == ("unauthorized", "ping")
    assert socket.closed.wait(10), "the server did not close the socket"
    assert socket.frames.count({"type": "pong"}) == 1


def test_a_silent_socket_whose_token_expired_gets_no_room_frames_and_is_closed(
    stack: LocalStackProcess, rest: Rest
) -> None:
    # Given bob's socket joined alice's room with a token that expires in 3 seconds
    _, alice_token, _ = _register(rest)
    _, bob_token, claims = _register(rest)
    room = rest.post("/rooms", {"name": "expiry"}, token=alice_token).json()
    assert rest.post("/rooms/join", {"code": room["code"]}, token=bob_token).status_code == 200
    now = int(time.time())
    token = jwt.encode(
        {**claims, "iat": now, "exp": now + 3, "jti": "short-lived"},
        _signing_key(stack),
        "HS256",
    )
    socket = Socket(f"{stack.urls['ws']}?token={token}")
    socket.send(type="join", room_id=room["room_id"])
    socket.wait_for_type("joined", room_id=room["room_id"])
    # When his token has expired, he sends nothing, and alice writes to the room
    time.sleep(max(0.0, now + 3.5 - time.time()))
    sent = rest.post(f"/rooms/{room['room_id']}/messages", {"content": "hi bob"}, token=alice_token)
    assert sent.status_code == 201, sent.text
    # Then the server closes his socket without pushing it the message
    assert socket.closed.wait(10), "the server did not close the socket"
    assert not [f for f in socket.frames if f.get("type") == "message"]
