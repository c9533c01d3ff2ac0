"""The terminal client's commands and the bot's streamed answers, on a recording API and
socket (no network)."""

from __future__ import annotations

from typing import Any

import pytest

from terminal.client import ChatClient
from terminal.screen import Screen


class RecordingApi:
    def __init__(self) -> None:
        self.calls: list[tuple[str, str, Any]] = []
        self.token = "t"

    def call(self, method: str, path: str, body: Any = None, **params: Any) -> Any:
        self.calls.append((method, path, body))
        return {"messages": [], "rooms": []}


@pytest.fixture
def client(capsys) -> ChatClient:
    screen = Screen()
    screen.colour = screen.interactive = False
    client = ChatClient(RecordingApi(), "ws://unused", screen)  # type: ignore[arg-type]
    client.session.username = "alice"
    client.sent = []  # type: ignore[attr-defined]
    client.session.send = lambda **frame: client.sent.append(frame)  # type: ignore[method-assign]
    return client


def _stream(seq: int, offset: int, chunk: str, **extra: Any) -> dict[str, Any]:
    return {
        "type": "bot_stream",
        "room_id": "r1",
        "message_id": "b1",
        "seq": seq,
        "offset": offset,
        "chunk": chunk,
        "is_complete": False,
        **extra,
    }


@pytest.mark.parametrize("line", ["/history", "/members", "/stop", "/regenerate", "/leave"])
def test_a_room_command_without_an_open_room_says_to_open_one(client, capsys, line):
    assert client.command(line) is True
    assert capsys.readouterr().out == "  open a room first: /rooms, /open N\n"
    assert client.api.calls == []


@pytest.mark.parametrize("line", ["/frobnicate", "/create", "/join"])
def test_an_unknown_or_incomplete_command_points_at_help(client, capsys, line):
    client.command(line)
    assert "unknown or incomplete command" in capsys.readouterr().out


def test_quit_ends_the_loop(client):
    assert client.command("/quit") is False


def test_logout_revokes_the_sessions_token_and_ends_the_loop(client, capsys):
    assert client.command("/logout") is False
    assert client.api.calls == [("POST", "/auth/logout", None)]
    assert client.closing  # the server closes the socket: no reconnecting
    assert "signed out" in capsys.readouterr().out


def test_logout_with_a_token_already_revoked_still_signs_out(client, capsys):
    from terminal.api import ApiError

    def refused(method: str, path: str, body: Any = None, **params: Any) -> Any:
        raise ApiError(401, "unauthorized", "Access token revoked; log in again")

    client.api.call = refused
    assert client.command("/logout") is False
    assert "signed out" in capsys.readouterr().out


def test_a_streamed_answer_is_printed_once_even_when_frames_overlap(client, capsys):
    client.session.enter({"room_id": "r1", "name": "general", "code": "C"})
    capsys.readouterr()
    client.on_frame(_stream(0, 0, "Hello"))
    client.on_frame(_stream(1, 3, "lo, wor"))  # overlaps what was shown
    client.on_frame(_stream(2, 10, "ld"))
    client.on_frame(
        {
            "type": "bot_stream",
            "room_id": "r1",
            "message_id": "b1",
            "chunk": "",
            "is_complete": True,
            "full_response": "Hello, world!",
        }
    )
    out = capsys.readouterr().out
    assert out.endswith("🤖 bot: Hello, world!\n")
    assert out.count("Hello") == 1


def test_stop_asks_to_stop_the_answer_being_written(client):
    client.session.enter({"room_id": "r1", "name": "general", "code": "C"})
    client.on_frame(_stream(0, 0, "Hel"))
    client.command("/stop")
    assert client.sent == [{"type": "bot_stop", "room_id": "r1", "message_id": "b1"}]  # type: ignore[attr-defined]
