"""Bot control's pure parts: the checkpoint ticker (also during a retry's backoff), the
client's resume rule, and the API functions staying free of the Gemini SDK although a stop
request builds a bot reply."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest

from chat.logic.bot.reader import Ticker
from local.template import ROOT
from terminal.answers import apply_frame


def test_the_ticker_ticks_during_a_sleep_and_its_action_can_end_it():
    ticks: list[float] = []

    def action() -> None:
        ticks.append(time.monotonic())
        if len(ticks) == 3:
            raise KeyError("stop")

    ticker = Ticker(0.05, action)
    started = time.monotonic()
    with pytest.raises(KeyError):
        ticker.sleep(10)
    assert len(ticks) == 3
    assert time.monotonic() - started < 5  # ended by the action, not the sleep's length
    assert all(b - a >= 0.045 for a, b in zip([started, *ticks], ticks, strict=False))


def test_the_ticker_polls_only_when_due():
    calls: list[int] = []
    ticker = Ticker(60, lambda: calls.append(1))
    ticker.poll()
    ticker.sleep(0.01)
    assert calls == []


def frame(offset: int, chunk: str) -> dict:
    return {"type": "bot_stream", "offset": offset, "chunk": chunk, "is_complete": False}


@pytest.mark.parametrize(
    ("known", "offset", "chunk", "expected"),
    [
        ("", 0, "hello", "hello"),  # from the start
        ("hello", 5, " world", "hello world"),  # the next chunk
        ("hello wo", 5, " world", "hello world"),  # overlaps the stored prefix
        ("hello world", 5, " world", "hello world"),  # already known: nothing added
        ("hé🎉", 2, "🎉 ok", "hé🎉 ok"),  # offsets count code points
        ("hello", 7, "orld", None),  # starts past the text: frames were missed
    ],
)
def test_the_resume_rule(known, offset, chunk, expected):
    assert apply_frame(known, frame(offset, chunk)) == expected


@pytest.mark.parametrize("function", ["rooms", "ws_message"])
def test_the_api_functions_never_load_the_gemini_sdk(function):
    code = (
        "import runpy, sys; "
        f"runpy.run_path('functions/{function}/app.py'); "
        "loaded = [m for m in sys.modules if m.startswith(('google.genai', 'httpx2'))]; "
        "assert not loaded, loaded"
    )
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(ROOT), str(ROOT / "layers" / "shared")]),
        "BOT_QUEUE_URL": "https://sqs.us-east-1.amazonaws.com/1/q.fifo",
        "FANOUT_QUEUE_URL": "https://sqs.us-east-1.amazonaws.com/1/fanout.fifo",
        "GEMINI_KEYS_KMS_KEY_ID": "key-id",
    }
    result = subprocess.run(  # noqa: S603 - our own interpreter and code
        [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr[-2000:]
