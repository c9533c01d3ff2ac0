"""The terminal client's side of named bots, private commands and summaries, on a scripted
API (no network): /bots, /private, /summary, and answers shown under their bot's name."""

from __future__ import annotations

import json
from typing import Any

import pytest

from terminal.client import ChatClient
from terminal.screen import Screen

BOT = {
    "name": "Reviewer",
    "model": "gemini-2.5-pro",
    "system_prompt": None,
    "has_api_key": False,
    "tools": [],
    "monthly_token_budget": None,
    "answers_replies": False,
}


class ScriptedApi:
    def __init__(self) -> None:
        self.calls: list[tuple[str, str, Any]] = []
        self.token = "t"

    def call(self, method: str, path: str, body: Any = None, **params: Any) -> Any:
        self.calls.append((method, path, body))
        if path.endswith("/bots") and method == "GET":
            return {"bots": [{**BOT, "name": "bot", "model": "gemini-2.5-flash"}, BOT]}
        if "/bots" in path and method in ("POST", "PATCH"):
            return {**BOT, **(body or {})}
        if path.endswith("/summary"):
            return {"command_id": "c1"}
        return None


class FakeSocket:
    def __init__(self) -> None:
        self.sent: list[dict[str, Any]] = []

    def send(self, data: str) -> None:
        self.sent.append(json.loads(data))


@pytest.fixture
def client(capsys) -> ChatClient:
    screen = Screen()
    screen.colour = screen.interactive = False
    client = ChatClient(ScriptedApi(), "ws://unused", screen)  # type: ignore[arg-type]
    client.session.username = "alice"
    client.session.socket = FakeSocket()  # type: ignore[assignment]
    client.session.enter({"room_id": "r1", "name": "general", "code": "C"})
    capsys.readouterr()
    return client


def test_bots_lists_the_rooms_bots(client, capsys):
    client.command("/bots")
    out = capsys.readouterr().out
    assert "bot: model gemini-2.5-flash" in out and "Reviewer: model gemini-2.5-pro" in out


@pytest.mark.parametrize(
    ("line", "call"),
    [
        ("/bots add Reviewer", ("POST", "/rooms/r1/bots", {"name": "Reviewer"})),
        (
            "/bots add Reviewer gemini-2.5-pro",
            ("POST", "/rooms/r1/bots", {"name": "Reviewer", "model": "gemini-2.5-pro"}),
        ),
        ("/bots remove Reviewer", ("DELETE", "/rooms/r1/bots/Reviewer", None)),
        (
            "/bots Reviewer prompt Review code kindly.",
            ("PATCH", "/rooms/r1/bots/Reviewer", {"system_prompt": "Review code kindly."}),
        ),
        (
            "/bots Reviewer replies on",
            ("PATCH", "/rooms/r1/bots/Reviewer", {"answers_replies": True}),
        ),
        (
            "/bots Reviewer key none",
            ("PATCH", "/rooms/r1/bots/Reviewer", {"gemini_api_key": None}),
        ),
        ("/summary", ("POST", "/rooms/r1/summary", {"private": True})),
        ("/summary public", ("POST", "/rooms/r1/summary", {"private": False})),
    ],
)
def test_bot_commands_call_the_contracts_routes(client, line, call):
    client.command(line)
    assert client.api.calls[-1] == call


def test_a_wrong_setting_shows_the_usage(client, capsys):
    client.command("/bots Reviewer colour blue")
    assert "usage: /bots NAME" in capsys.readouterr().out
    assert client.api.calls == []


def test_private_sends_a_private_command_over_the_socket(client):
    client.command("/private @Reviewer only for me")
    (frame,) = client.session.socket.sent
    assert frame["private"] is True and frame["content"] == "@Reviewer only for me"
    assert frame["room_id"] == "r1"


def test_an_answer_streams_under_its_bots_name_and_a_private_one_says_so(client, capsys):
    client.on_frame(
        {
            "type": "bot_stream",
            "room_id": "r1",
            "message_id": "b1",
            "reply_to": "c1",
            "username": "Reviewer",
            "chunk": "Looks ",
            "is_complete": False,
            "seq": 0,
            "offset": 0,
        }
    )
    client.on_frame(
        {"type": "bot_error", "room_id": "r1", "message_id": "b2", "username": "planner",
         "code": "no_api_key", "message": "No key."}
    )  # fmt: skip
    client.show_message(
        {
            "message_id": "m1",
            "room_id": "r1",
            "username": "alice",
            "content": "@Reviewer psst",
            "message_type": "command",
            "is_bot": False,
            "created_at": "2026-05-01T10:00:00.000Z",
            "visible_to": "alice",
        }
    )
    out = capsys.readouterr().out
    assert "🤖 Reviewer: Looks" in out
    assert "🤖 planner: [no_api_key] No key." in out
    assert "@Reviewer psst (private: only you see it)" in out
