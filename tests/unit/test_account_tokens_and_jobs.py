"""Accounts, pure parts: what a token must carry to be accepted (an id, an integer
generation), and the erasure queue's job as its message body carries it."""

from __future__ import annotations

import time

import jwt
import pytest

from chat.adapters.erasure_queue import ErasureJob
from chat.errors import Unauthorized
from chat.logic.accounts import tokens

KEY = "unit-test-signing-key-unit-test-signing-key"


@pytest.fixture(autouse=True)
def _key(monkeypatch):
    monkeypatch.setattr(tokens, "jwt_signing_key", lambda: KEY)


def _token(**claims) -> str:
    now = int(time.time())
    base = {"sub": "u1", "username": "alice", "iat": now, "exp": now + 60, "jti": "t1", "gen": 2}
    return jwt.encode({k: v for k, v in {**base, **claims}.items() if v is not None}, KEY, "HS256")


def test_an_issued_token_carries_its_own_id_and_the_generation():
    token, lifetime = tokens.issue_token("u1", "alice", generation=3)
    first = tokens.verify_token(token)
    second = tokens.verify_token(tokens.issue_token("u1", "alice", generation=3)[0])
    assert (first.token_generation, lifetime) == (3, 3600)
    assert first.token_id and second.token_id and first.token_id != second.token_id
    assert first.token_expires_at is not None


@pytest.mark.parametrize(
    "claims",
    [{"jti": None}, {"jti": ""}, {"jti": 5}, {"gen": "1"}, {"gen": 1.5}, {"gen": True}],
    ids=["no id", "empty id", "id not a string", "generation a string", "a float", "a bool"],
)
def test_a_token_without_a_usable_id_or_generation_is_refused(claims):
    with pytest.raises(Unauthorized):
        tokens.verify_token(_token(**claims))


def test_a_token_without_a_generation_is_of_the_first_one():
    assert tokens.verify_token(_token(gen=None)).token_generation == 0


def test_an_erasure_job_survives_its_message_body():
    job = ErasureJob("u1", "alice", erase_messages=True)
    assert ErasureJob.from_body(job.body()) == job
    later = job.continued({"author_id": "u1", "message_id": "m9", "room_id": "r1"})
    assert ErasureJob.from_body(later.body()) == later
    assert later.cursor == {"author_id": "u1", "message_id": "m9", "room_id": "r1"}


@pytest.mark.parametrize(
    "body",
    [
        "{}",
        '{"user_id": "u1", "username": "a"}',
        '{"user_id": "u1", "username": "a", "erase_messages": true, "cursor": []}',
        "not json",
    ],
)
def test_a_body_that_is_not_a_job_is_refused(body):
    with pytest.raises((KeyError, ValueError, TypeError)):
        ErasureJob.from_body(body)
