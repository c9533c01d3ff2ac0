"""Who must act on a failed answer (chat.logic.bot.failures): what a room did itself is the
room's to fix, told in the bot_error message; the rest is the operator's, and alarmed."""

from __future__ import annotations

import pytest

from chat.adapters.gemini import GeminiModelError, GeminiRateLimited, GeminiTimeout
from chat.logic.bot import failures


def model_error(refused=None, status=None):
    return GeminiModelError("detail", transient=False, status=status, refused=refused)


@pytest.mark.parametrize(
    ("error", "room_key", "room_model", "code", "cause", "message"),
    [
        # the room's own key, model or request: the room is told what to do
        (model_error("key", 403), True, False, "model_error", "user", failures.ROOM_KEY_REJECTED),
        (
            GeminiRateLimited("quota", transient=True, status=429, refused="quota"),
            True,
            False,
            "rate_limited",
            "user",
            failures.ROOM_KEY_OVER_QUOTA,
        ),
        (model_error("model", 404), True, True, "model_error", "user", failures.ROOM_MODEL_MISSING),
        (
            model_error("model", 404),
            False,
            True,
            "model_error",
            "user",
            failures.ROOM_MODEL_MISSING,
        ),
        (model_error("content"), False, False, "model_error", "user", failures.CONTENT_REFUSED),
        (model_error("content"), True, False, "model_error", "user", failures.CONTENT_REFUSED),
        # the deployment's key or default model, Gemini itself, time: the operator's
        (
            model_error("key", 401),
            False,
            False,
            "model_error",
            "operator",
            failures.SHARED_KEY_FAILED,
        ),
        (
            GeminiRateLimited("quota", transient=True, status=429, refused="quota"),
            False,
            False,
            "rate_limited",
            "operator",
            GeminiRateLimited.default_message,
        ),
        (model_error("model", 404), True, False, "model_error", "operator", None),
        (model_error(None, 500), True, True, "model_error", "operator", None),
        (GeminiTimeout("stalled", transient=True), True, True, "timeout", "operator", None),
    ],
)
def test_each_failure_is_blamed_on_who_can_fix_it(
    error, room_key, room_model, code, cause, message
):
    failure = failures.of_model_error(error, room_key=room_key, room_model=room_model)
    assert (failure.code, failure.cause) == (code, cause)
    assert failure.message == (message or error.message)


def test_what_the_room_can_fix_says_how():
    for message in (
        failures.ROOM_KEY_REJECTED,
        failures.ROOM_KEY_OVER_QUOTA,
        failures.ROOM_MODEL_MISSING,
        failures.SHARED_KEY_FAILED,
    ):
        assert "bot settings" in message
    assert "Rephrase" in failures.CONTENT_REFUSED
