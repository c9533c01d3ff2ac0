"""A failed answer tells the room what to do when the room can fix it (its own key, its own
model, what it asked), and is counted as the operator's otherwise: BotErrorsByCode carries
`cause`, and only cause=operator is alarmed (template.yaml). Gemini is the fake HTTP server
behind the real SDK; the bot_error frame's code stays the contract's."""

from __future__ import annotations

import boto3
import pytest
from aws_lambda_powertools.utilities.parameters.base import clear_caches

from chat.config import settings
from chat.logic.bot import failures
from local.fake_gemini import Reply
from tests.integration import test_bot_worker as bot
from tests.integration.test_bot_worker import SHARED_KEY, answer_frames, deliver, post
from tests.support.metrics import named

# The bot worker tests' fixtures: a room with a key, a socket joined to a room.
keyed_room = bot.keyed_room
joined = bot.joined

OVER_QUOTA = [Reply(status=429, retry_after_s=600)] * 4  # asks to wait longer than we do
FAILING = [Reply(status=503)] * 4


@pytest.fixture
def shared_key(monkeypatch):
    """The deployment's shared key, for rooms without their own."""
    arn = boto3.client("secretsmanager").create_secret(
        Name="shared-gemini-key", SecretString=SHARED_KEY
    )["ARN"]
    monkeypatch.setenv("SHARED_GEMINI_KEY_SECRET_ARN", arn)
    settings.cache_clear()
    clear_caches()


def _answer_error(rest, room, tokens, joined, stack, capsys, content="@bot hello"):
    alice = joined(tokens["alice"], room["room_id"])
    post(rest, room, tokens["alice"], content)
    capsys.readouterr()
    assert deliver(stack) == []
    (error,) = [f for f in answer_frames(alice) if f["type"] == "bot_error"]
    (metric,) = named(capsys.readouterr().out, "BotErrorsByCode")
    assert metric.dimensions["code"] == error["code"]
    return error, metric.dimensions["cause"]


@pytest.mark.parametrize(
    ("replies", "code", "message"),
    [
        ([Reply(status=403)], "model_error", failures.ROOM_KEY_REJECTED),
        (OVER_QUOTA, "rate_limited", failures.ROOM_KEY_OVER_QUOTA),
        ([Reply(text="", finish_reason="SAFETY")], "model_error", failures.CONTENT_REFUSED),
    ],
)
def test_what_the_room_can_fix_tells_the_room_and_pages_nobody(
    replies, code, message, rest, keyed_room, joined, gemini, stack, capsys
):
    room, tokens = keyed_room("alice")  # the room's own key
    gemini.script(*replies)
    error, cause = _answer_error(rest, room, tokens, joined, stack, capsys)
    assert (error["code"], error["message"], cause) == (code, message, "user")


def test_the_rooms_own_model_missing_is_the_rooms_to_fix(
    rest, keyed_room, joined, gemini, stack, capsys
):
    room, tokens = keyed_room("alice")
    chosen = rest.put(f"/rooms/{room['room_id']}/bot", {"model": "gemini-0"}, token=tokens["alice"])
    assert chosen.status == 200, chosen.body
    gemini.script(Reply(status=404))
    error, cause = _answer_error(rest, room, tokens, joined, stack, capsys)
    assert (error["message"], cause) == (failures.ROOM_MODEL_MISSING, "user")


@pytest.mark.parametrize(
    ("replies", "code", "message"),
    [
        ([Reply(status=403)], "model_error", failures.SHARED_KEY_FAILED),
        (OVER_QUOTA, "rate_limited", None),
        ([Reply(status=404)], "model_error", None),  # DefaultBotModel
    ],
)
def test_the_shared_key_and_default_model_are_the_operators(
    replies, code, message, rest, keyed_room, joined, gemini, stack, capsys, shared_key
):
    room, tokens = keyed_room("alice", key=None)
    gemini.script(*replies)
    error, cause = _answer_error(rest, room, tokens, joined, stack, capsys)
    assert (error["code"], cause) == (code, "operator")
    if message:
        assert error["message"] == message


def test_gemini_failing_is_the_operators_whoever_holds_the_key(
    rest, keyed_room, joined, gemini, stack, capsys
):
    room, tokens = keyed_room("alice")
    gemini.script(*FAILING)
    error, cause = _answer_error(rest, room, tokens, joined, stack, capsys)
    assert (error["code"], cause) == ("model_error", "operator")


def test_a_room_without_any_key_is_told_and_nobody_paged(
    rest, keyed_room, joined, gemini, stack, capsys
):
    room, tokens = keyed_room("alice", key=None)
    error, cause = _answer_error(rest, room, tokens, joined, stack, capsys)
    assert (error["code"], cause) == ("no_api_key", "user")
    assert "bot settings" in error["message"]
