"""Each function checks the settings it needs when its handler module is imported (the
Lambda init), so a missing variable fails the cold start, never a request."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest
from pydantic import ValidationError

from chat.config import settings

ROOT = Path(__file__).resolve().parents[2]


def _init(function: str) -> None:
    """Run a handler module's code as Lambda's init does (a fresh module, not cached)."""
    path = ROOT / "functions" / function / "app.py"
    spec = importlib.util.spec_from_file_location(f"cold_start_{function}", path)
    assert spec and spec.loader
    spec.loader.exec_module(importlib.util.module_from_spec(spec))


@pytest.fixture(autouse=True)
def _fresh_settings(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("BOT_QUEUE_URL", "https://sqs.us-east-1.amazonaws.com/1/q.fifo")
    monkeypatch.setenv("GEMINI_KEYS_KMS_KEY_ID", "key-id")
    settings.cache_clear()
    yield
    settings.cache_clear()


@pytest.mark.parametrize(
    ("function", "missing"),
    [
        ("rooms", "BOT_QUEUE_URL"),
        ("rooms", "GEMINI_KEYS_KMS_KEY_ID"),
        ("rooms", "ATTACHMENTS_TABLE"),
        ("rooms", "ATTACHMENTS_BUCKET"),
        ("rooms", "CLIENT_IDS_TABLE"),
        ("ws_message", "BOT_QUEUE_URL"),
        ("ws_message", "ATTACHMENTS_TABLE"),
        ("ws_message", "ATTACHMENTS_BUCKET"),
        ("ws_message", "CLIENT_IDS_TABLE"),
        ("bot_worker", "IDEMPOTENCY_TABLE"),
        ("bot_worker", "ATTACHMENTS_BUCKET"),
        ("auth", "USERS_TABLE"),
        ("ws_connect", "CONNECTIONS_TABLE"),
        ("search", "SEARCH_INDEX_TABLE"),
        ("search", "ATTACHMENTS_BUCKET"),
        ("search_indexer", "SEARCH_INDEX_TABLE"),
    ],
)
def test_a_missing_variable_fails_the_init_of_the_function(function, missing, monkeypatch):
    monkeypatch.delenv(missing)
    with pytest.raises((RuntimeError, ValidationError)) as failure:
        _init(function)
    assert missing.lower() in str(failure.value).lower()


@pytest.mark.parametrize(
    "function",
    ["auth", "rooms", "ws_connect", "ws_message", "bot_worker", "search", "search_indexer"],
)
def test_with_its_variables_every_function_initialises(function):
    _init(function)
