"""An account's own changes (docs/API.md, Accounts): logging out revokes the token used,
changing the password every earlier one; over REST, at the WebSocket handshake and on
sockets already open (docs/accounts.md)."""

from __future__ import annotations

import time
from typing import Any

import jwt
import pytest

from chat.dal import revocations
from chat.dal import users as user_table
from chat.dal.tables import table
from chat.logic.accounts.passwords import verify_password
from local.events import authorizer_context
from tests.support.clients import WebSocketClient, handler_of
from tests.support.events import LambdaContext, ws_authorizer_event, ws_connect_event

PASSWORD = "correct horse battery"


@pytest.fixture
def login(rest):
    """login(username, password) -> a new access token of the user."""

    def _login(username: str, password: str = PASSWORD) -> str:
        result = rest.post("/auth/login", {"username": username, "password": password})
        assert result.status == 200, result.body
        return result.body["access_token"]

    return _login


def _claims(token: str) -> dict[str, Any]:
    return jwt.decode(token, options={"verify_signature": False})


def _refused(rest, sockets, token: str) -> None:
    """The token no longer works: REST 401 on every route, handshake refused."""
    for result in (rest.get("/auth/me", token=token), rest.get("/rooms", token=token)):
        assert result.status == 401 and result.error_code == "unauthorized", result.body
    assert WebSocketClient(sockets, token).connect() == 401


def _closed_as_revoked(sockets, client: WebSocketClient) -> None:
    (error,) = client.frames("error")
    assert error["code"] == "unauthorized" and error["request_type"] is None
    assert client.connection_id in sockets.closed


# ------------------------------------------------------------------------------ logout
def test_logout_revokes_the_token_used_and_closes_its_sockets_only(
    rest, register, login, connect, sockets
):
    # Given alice logged in twice (a phone and a laptop), each with an open socket
    phone = register("alice")
    laptop = login("alice")
    phone_socket, laptop_socket = connect(phone), connect(laptop)
    # When she logs out on her phone
    result = rest.post("/auth/logout", token=phone)
    # Then that token stops working at once, and its socket got `unauthorized` and was closed
    assert result.status == 204 and result.body is None
    _refused(rest, sockets, phone)
    _closed_as_revoked(sockets, phone_socket)
    # and the laptop's token and socket are untouched
    assert rest.get("/auth/me", token=laptop).status == 200
    assert laptop_socket.frames() == [] and laptop_socket.connection_id not in sockets.closed
    assert laptop_socket.send({"type": "ping"}) == 200
    assert laptop_socket.frames("pong") == [{"type": "pong"}]


def test_a_revoked_token_cannot_log_out_again_or_revoke_anything_else(rest, register, login):
    token = register("alice")
    other = login("alice")
    assert rest.post("/auth/logout", token=token).status == 204
    assert rest.post("/auth/logout", token=token).status == 401
    assert rest.get("/auth/me", token=other).status == 200


def test_a_revocation_is_kept_until_the_token_would_have_expired(
    rest, register, login, monkeypatch
):
    # Given alice logged out
    first = register("alice")
    user_id, first_id = _claims(first)["sub"], _claims(first)["jti"]
    assert rest.post("/auth/logout", token=first).status == 204
    assert set(revocations.get(user_id)["revoked"]) == {first_id}
    # When that token's expiry has passed (moto never deletes expired items: the
    # revocations are read as of the clock), it no longer counts
    later = time.time() + 3600 + 1
    monkeypatch.setattr(revocations, "_now", lambda: later)
    assert revocations.get(user_id)["revoked"] == {}
    # and the next logout removes it from the item, keeping its own
    third = login("alice")
    assert rest.post("/auth/logout", token=third).status == 204
    item = table("users").get_item(Key={"pk": f"TOKENS#{user_id}"})["Item"]
    assert {name for name in item if name.startswith("jti:")} == {f"jti:{_claims(third)['jti']}"}


def test_a_socket_opening_while_its_token_is_revoked_is_refused_at_connect(rest, register, sockets):
    # Given the authorizer let alice's handshake through
    token = register("alice")
    connection_id = "racing-conn="
    answer = handler_of("WsAuthorizerFunction")(
        ws_authorizer_event(connection_id, token), LambdaContext()
    )
    # When she logs out before $connect records the connection (the logout found nothing
    # to close)
    assert rest.post("/auth/logout", token=token).status == 204
    response = handler_of("WsConnectFunction")(
        ws_connect_event(connection_id, token, authorizer_context(answer), 0), LambdaContext()
    )
    # Then $connect refuses the handshake and leaves no record of it
    assert response["statusCode"] == 401
    from chat.dal import connections

    assert connections.user_connections(_claims(token)["sub"]) == []
    assert connections.remove_connection(connection_id) == (None, [])


# ------------------------------------------------------------------------------ password
def test_a_password_change_revokes_every_earlier_token_and_answers_a_new_one(
    rest, register, login, connect, sockets
):
    # Given alice has two sessions, one with an open socket
    first = register("alice")
    second = login("alice")
    socket = connect(first)
    # When she changes her password from the second session
    result = rest.put(
        "/auth/password",
        {"current_password": PASSWORD, "new_password": "a much better one"},
        token=second,
    )
    # Then she gets a new token, of the next generation, that works
    assert result.status == 200, result.body
    assert set(result.body) == {"user", "access_token", "token_type", "expires_in"}
    new = result.body["access_token"]
    assert _claims(new)["gen"] == _claims(second)["gen"] + 1
    assert rest.get("/auth/me", token=new).status == 200
    assert connect(new).frames() == []
    # and both earlier tokens stop working; the socket opened with one was closed
    _refused(rest, sockets, first)
    _refused(rest, sockets, second)
    _closed_as_revoked(sockets, socket)
    # and only the new password logs in (with the generation the new token has)
    assert rest.post("/auth/login", {"username": "alice", "password": PASSWORD}).status == 401
    assert _claims(login("alice", "a much better one"))["gen"] == _claims(new)["gen"]


def test_a_new_password_is_hashed_with_the_current_bcrypt_cost(rest, register, monkeypatch):
    from chat.config import settings

    token = register("alice")  # at the tests' cost, 4
    monkeypatch.setenv("BCRYPT_COST", "5")
    settings.cache_clear()
    result = rest.put(
        "/auth/password",
        {"current_password": PASSWORD, "new_password": "a much better one"},
        token=token,
    )
    assert result.status == 200, result.body
    stored = user_table.get_credentials("alice")
    assert stored is not None and stored.password_hash.startswith("$2b$05$")
    monkeypatch.delenv("BCRYPT_COST")
    settings.cache_clear()


def test_a_wrong_current_password_is_a_failed_login(rest, register, monkeypatch):
    from chat.config import settings

    monkeypatch.setenv("LOGIN_FAILURES_PER_USERNAME", "3")
    settings.cache_clear()
    token = register("alice")
    wrong = {"current_password": "not it at all", "new_password": "a much better one"}
    # Three wrong current passwords: 401 each, counted as failed logins of alice
    for _ in range(3):
        result = rest.put("/auth/password", wrong, token=token)
        assert result.status == 401 and result.error_code == "unauthorized"
    # so the fourth attempt, and a login with the right password, are throttled
    result = rest.put("/auth/password", {**wrong, "current_password": PASSWORD}, token=token)
    assert result.status == 429 and "retry-after" in result.headers
    login = rest.post("/auth/login", {"username": "alice", "password": PASSWORD})
    assert login.status == 429
    # and nothing changed: the token still works, the password is the old one
    assert rest.get("/auth/me", token=token).status == 200
    stored = user_table.get_credentials("alice")
    assert stored is not None
    assert verify_password(PASSWORD, stored.password_hash)
    assert stored.token_generation == 0
    monkeypatch.delenv("LOGIN_FAILURES_PER_USERNAME")
    settings.cache_clear()


@pytest.mark.parametrize(
    "body",
    [
        {"current_password": PASSWORD, "new_password": "short"},
        {"current_password": PASSWORD},
        {"current_password": "", "new_password": "a much better one"},
    ],
)
def test_a_password_change_validates_its_body(rest, register, body):
    token = register("alice")
    result = rest.put("/auth/password", body, token=token)
    assert result.status == 422 and result.error_code == "validation_error"
    assert rest.get("/auth/me", token=token).status == 200
