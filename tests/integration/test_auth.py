"""Auth routes: register, login, me, and token rules (docs/API.md, Auth)."""

from __future__ import annotations

import re
import time

import bcrypt
import jwt
import pytest

ISO_MS = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")


def test_register_returns_user_and_token(rest, stack):
    result = rest.post(
        "/auth/register",
        {"username": "alice", "password": "s3cret-pass", "email": "Alice@Example.com"},
    )
    assert result.status == 201
    body = result.body
    assert set(body) == {"user", "access_token", "token_type", "expires_in"}
    assert body["token_type"] == "bearer"
    assert body["expires_in"] == 3600
    assert set(body["user"]) == {"user_id", "username", "email", "created_at"}
    assert body["user"]["username"] == "alice"
    assert body["user"]["email"] == "Alice@example.com"  # the domain part is case-insensitive
    assert ISO_MS.match(body["user"]["created_at"])
    claims = jwt.decode(body["access_token"], stack["jwt_key"], algorithms=["HS256"])
    assert claims["sub"] == body["user"]["user_id"]
    assert claims["exp"] - claims["iat"] == 3600


def test_register_without_email_has_null_email(rest):
    result = rest.post("/auth/register", {"username": "bob", "password": "password1"})
    assert result.status == 201
    assert result.body["user"]["email"] is None


def test_username_is_unique_case_insensitively(rest, register):
    register("Carol")
    result = rest.post("/auth/register", {"username": "cAROL", "password": "password1"})
    assert result.status == 409
    assert result.error_code == "conflict"


def test_email_is_unique_case_insensitively(rest, register):
    register("dave", email="dave@example.com")
    result = rest.post(
        "/auth/register",
        {"username": "dave2", "password": "password1", "email": "DAVE@example.com"},
    )
    assert result.status == 409
    assert result.body["error"]["message"] == "Email already registered"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"username": "ab", "password": "password1"}, "username"),
        ({"username": "x" * 33, "password": "password1"}, "username"),
        ({"username": "no spaces", "password": "password1"}, "username"),
        ({"username": "bot", "password": "password1"}, "username"),
        ({"username": "BoT", "password": "password1"}, "username"),
        ({"username": "System", "password": "password1"}, "username"),
        ({"username": "erin", "password": "short"}, "password"),
        ({"username": "erin", "password": "p" * 129}, "password"),
        ({"username": "erin", "password": "password1", "email": "not-an-email"}, "email"),
        ({"password": "password1"}, "username"),
    ],
)
def test_register_validation_errors_name_the_field(rest, body, field):
    result = rest.post("/auth/register", body)
    assert result.status == 422
    assert result.error_code == "validation_error"
    assert field in [detail["field"] for detail in result.body["error"]["details"]]


def test_body_that_is_not_json_is_a_bad_request(rest):
    result = rest.call("POST", "/auth/register", raw_body="{not json")
    assert result.status == 400
    assert result.error_code == "bad_request"


def test_wrong_content_type_is_a_bad_request(rest):
    result = rest.call(
        "POST", "/auth/register", raw_body="username=a", headers={"Content-Type": "text/plain"}
    )
    assert result.status == 400
    assert result.error_code == "bad_request"


def test_body_over_64_kib_is_too_large(rest):
    result = rest.post("/auth/register", {"username": "frank", "password": "p" * (65 * 1024)})
    assert result.status == 413
    assert result.error_code == "too_large"


@pytest.mark.parametrize(
    "password",
    [
        "p" * 128,  # the longest allowed
        "ü" * 40,  # 80 bytes of UTF-8: more than bcrypt's 72
        "😀" * 20 + "tail",  # 84 bytes
    ],
)
def test_long_passwords_register_and_log_in(rest, password):
    assert rest.post("/auth/register", {"username": "grace", "password": password}).status == 201
    assert rest.post("/auth/login", {"username": "grace", "password": password}).status == 200


def test_every_byte_of_a_long_password_counts(rest):
    # Two passwords equal in their first 72 bytes must not both work.
    password = "a" * 80
    assert rest.post("/auth/register", {"username": "heidi", "password": password}).status == 201
    result = rest.post("/auth/login", {"username": "heidi", "password": "a" * 72 + "b" * 8})
    assert result.status == 401


def test_login_returns_a_working_token(rest, register):
    register("ivan", password="ivan-password")
    result = rest.post("/auth/login", {"username": "IVAN", "password": "ivan-password"})
    assert result.status == 200
    assert result.body["user"]["username"] == "ivan"
    me = rest.get("/auth/me", token=result.body["access_token"])
    assert me.status == 200
    assert me.body == result.body["user"]


def test_unknown_user_and_wrong_password_are_the_same_401(rest, register):
    register("judy", password="judy-password")
    wrong = rest.post("/auth/login", {"username": "judy", "password": "not-her-password"})
    unknown = rest.post("/auth/login", {"username": "nobody", "password": "not-her-password"})
    assert wrong.status == unknown.status == 401
    assert wrong.body == unknown.body
    assert wrong.error_code == "unauthorized"


def test_unknown_user_login_runs_bcrypt_like_a_wrong_password(rest, register, monkeypatch):
    # Timing equality comes from doing the same work: one bcrypt check either way.
    register("kim", password="kim-password")
    calls = []
    real = bcrypt.checkpw
    monkeypatch.setattr(bcrypt, "checkpw", lambda pw, hashed: calls.append(1) or real(pw, hashed))
    rest.post("/auth/login", {"username": "kim", "password": "wrong-password"})
    rest.post("/auth/login", {"username": "nobody-at-all", "password": "wrong-password"})
    assert len(calls) == 2


@pytest.mark.parametrize("username", ["bot", "BOT", "system"])
def test_reserved_accounts_cannot_log_in(rest, username):
    result = rest.post("/auth/login", {"username": username, "password": "anything-at-all"})
    assert result.status == 401


def _token(claims: dict, key: str) -> str:
    return jwt.encode(claims, key, algorithm="HS256")


def _claims(user_id: str, **overrides) -> dict:
    now = int(time.time())
    return {
        "sub": user_id,
        "username": "mallory",
        "iat": now,
        "exp": now + 600,
        "jti": "test-token",
        **overrides,
    }


def test_token_rules(rest, register, stack):
    key = stack["jwt_key"]
    token = register("mallory")
    user_id = jwt.decode(token, key, algorithms=["HS256"])["sub"]
    unsigned = jwt.encode(_claims(user_id), key=None, algorithm="none")
    cases = {
        "missing": None,
        "malformed": "not.a.jwt",
        "alg none": unsigned,
        "wrong key": _token(_claims(user_id), key="another-key-entirely-another-key-entirely"),
        "expired": _token(
            _claims(user_id, iat=int(time.time()) - 7200, exp=int(time.time()) - 3600), key
        ),
        "no exp": _token(
            {"sub": user_id, "username": "mallory", "iat": int(time.time()), "jti": "t"}, key
        ),
        "no token id": _token({k: v for k, v in _claims(user_id).items() if k != "jti"}, key),
        "bot impersonation": _token(_claims("bot", username="bot"), key),
    }
    for name, bad in cases.items():
        result = rest.get("/auth/me", token=bad)
        assert result.status == 401, name
        assert result.error_code == "unauthorized", name
    assert rest.get("/auth/me", token=token).status == 200
    assert rest.get("/auth/me", headers={"Authorization": f"Basic {token}"}).status == 401


def test_responses_never_carry_internal_details(rest):
    result = rest.post("/auth/register", {"username": ["not", "a", "string"], "password": 5})
    assert result.status == 422
    text = str(result.body)
    assert "Traceback" not in text and "pydantic" not in text


@pytest.mark.parametrize("token", [None, "not-a-token"])
def test_a_route_that_needs_a_token_refuses_a_request_without_one_before_its_body(
    rest, room_with, token
):
    # A body that would fail validation: still 401 first, the client must log in
    room, _ = room_with("alice")
    result = rest.post(
        f"/rooms/{room['room_id']}/attachments",
        {"filename": "x.png", "content_type": "image/png", "size": 0},
        token=token,
    )
    assert (result.status, result.error_code) == (401, "unauthorized")
