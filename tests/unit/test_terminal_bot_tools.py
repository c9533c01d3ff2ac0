"""The terminal client's side of the bot's tools and usage, on a scripted API (no network):
tool calls and sources after an answer (live and from history), the bot's tools and budget
set with /bot, the month's usage with /usage."""

from __future__ import annotations

from typing import Any

import pytest

from terminal.client import ChatClient
from terminal.screen import Screen

SETTINGS = {
    "model": "gemini-2.5-flash",
    "system_prompt": None,
    "has_api_key": False,
    "tools": ["room_search"],
    "monthly_token_budget": 5000,
}
USAGE = {
    "month": "2026-05",
    "bots": [{"name": "bot", "answers": 3, "input_tokens": 1200, "output_tokens": 340}],
}


class ScriptedApi:
    def __init__(self) -> None:
        self.calls: list[tuple[str, str, Any, dict[str, Any]]] = []
        self.token = "t"

    def call(self, method: str, path: str, body: Any = None, **params: Any) -> Any:
        self.calls.append((method, path, body, params))
        if path.endswith("/usage"):
            return USAGE
        if path.endswith("/bot"):
            return {**SETTINGS, **(body or {})}
        return {"messages": [], "rooms": []}


@pytest.fixture
def client(capsys) -> ChatClient:
    screen = Screen()
    screen.colour = screen.interactive = False
    client = ChatClient(ScriptedApi(), "ws://unused", screen)  # type: ignore[arg-type]
    client.session.username = "alice"
    client.session.enter({"room_id": "r1", "name": "general", "code": "C"})
    capsys.readouterr()
    return client


SOURCES = [
    {"title": "Python 3.14 released", "url": "https://example.com/a"},
    {"title": "What's new", "url": "https://example.com/b"},
]
CALLS = [
    {"tool": "web_search", "query": "python release"},
    {"tool": "room_search", "query": "deploy"},
]


def test_an_answers_tool_calls_and_sources_follow_its_last_frame(client, capsys):
    client.on_frame(
        {
            "type": "bot_stream",
            "room_id": "r1",
            "message_id": "b1",
            "chunk": "",
            "is_complete": True,
            "full_response": "It is out.",
            "tool_calls": CALLS,
            "sources": SOURCES,
        }
    )
    out = capsys.readouterr().out
    assert "It is out." in out
    assert "🔎 searched the web for “python release” · searched the room for “deploy”" in out
    assert "[1] Python 3.14 released https://example.com/a" in out
    assert "[2] What's new https://example.com/b" in out
    assert out.index("It is out.") < out.index("🔎")


def test_an_answer_without_tools_adds_nothing(client, capsys):
    client.on_frame(
        {
            "type": "bot_stream",
            "room_id": "r1",
            "message_id": "b2",
            "chunk": "",
            "is_complete": True,
            "full_response": "Plain.",
            "tool_calls": [],
            "sources": [],
        }
    )
    out = capsys.readouterr().out
    assert "🔎" not in out and "[1]" not in out


def test_a_bot_message_from_history_shows_its_tools_and_sources(client, capsys):
    client.show_message(
        {
            "message_id": "b3",
            "room_id": "r1",
            "username": "bot",
            "content": "Grounded.",
            "message_type": "bot",
            "is_bot": True,
            "created_at": "2026-05-01T10:00:00.000Z",
            "status": "complete",
            "tool_calls": CALLS[:1],
            "sources": SOURCES[:1],
        }
    )
    out = capsys.readouterr().out
    assert "Grounded." in out and "searched the web for “python release”" in out
    assert "[1] Python 3.14 released https://example.com/a" in out


@pytest.mark.parametrize(
    ("line", "body"),
    [
        ("/bot tools room_search,web_search", {"tools": ["room_search", "web_search"]}),
        ("/bot tools none", {"tools": []}),
        ("/bot budget 20000", {"monthly_token_budget": 20000}),
        ("/bot budget none", {"monthly_token_budget": None}),
    ],
)
def test_the_owner_sets_tools_and_budget(client, capsys, line, body):
    client.command(line)
    assert client.api.calls[-1] == ("PUT", "/rooms/r1/bot", body, {})
    assert "tools:" in capsys.readouterr().out


def test_bot_settings_show_tools_and_budget(client, capsys):
    client.command("/bot")
    out = capsys.readouterr().out
    assert "tools: room_search" in out and "monthly token budget: 5000" in out


def test_a_budget_that_is_not_a_number_is_refused_here(client, capsys):
    client.command("/bot budget lots")
    assert client.api.calls == []
    assert "usage: /bot" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("line", "params"), [("/usage", {}), ("/usage 2026-05", {"month": "2026-05"})]
)
def test_usage_lists_each_bots_month(client, capsys, line, params):
    client.command(line)
    assert client.api.calls[-1] == ("GET", "/rooms/r1/usage", None, params)
    out = capsys.readouterr().out
    assert "bot usage in 2026-05 (UTC):" in out
    assert "bot: 3 answers, 1200 input + 340 output tokens" in out
