"""The terminal client's search commands (/search, /more, /goto) on a recording API."""

from __future__ import annotations

from typing import Any

import pytest

from terminal.client import ChatClient
from terminal.screen import Screen
from terminal.search import marked


def _message(message_id: str, room_id: str, content: str) -> dict[str, Any]:
    return {
        "message_id": message_id,
        "room_id": room_id,
        "username": "bob",
        "content": content,
        "is_bot": False,
        "created_at": "2026-03-04T10:20:00.000Z",
    }


class SearchApi:
    def __init__(self) -> None:
        self.calls: list[tuple[str, str, dict[str, Any]]] = []
        self.token = "t"

    def call(self, method: str, path: str, body: Any = None, **params: Any) -> Any:
        self.calls.append((method, path, params))
        if path == "/search" and "before" not in params:
            return {
                "results": [
                    _message("m9", "r2", "The deployment FAILED"),
                    _message("m5", "r1", "déploiement prévu"),
                ],
                "next_before": "m5",
            }
        if path == "/search":
            return {"results": [_message("m2", "r1", "deploy later")], "next_before": None}
        if path == "/rooms":
            return {
                "rooms": [
                    {"room_id": "r1", "name": "general", "code": "C1"},
                    {"room_id": "r2", "name": "ops", "code": "C2"},
                ]
            }
        if path.endswith("/messages"):
            return {"messages": [_message("m1", "r1", "before it")], "next_before": None}
        raise AssertionError(path)


@pytest.fixture
def client() -> tuple[ChatClient, SearchApi]:
    api = SearchApi()
    screen = Screen()
    screen.colour = screen.interactive = False
    chat = ChatClient(api, "ws://unused", screen)  # type: ignore[arg-type]
    chat.session.username = "alice"
    chat.session.send = lambda **frame: None  # type: ignore[method-assign]
    return chat, api


@pytest.mark.parametrize(
    ("text", "query", "expected"),
    [
        ("The deployment FAILED", "deplo", "The *deployment* FAILED"),
        ("The deployment FAILED", "failed DEPLO", "The *deployment* *FAILED*"),
        ("Le Déploiement prévu", "deploiement", "Le *Déploiement* prévu"),
        ("deploy deployment", "deploy x", "*deploy* deployment"),  # only the last is a prefix
        ("東京タワー", "京", "東*京*タワー"),
        ("nothing here", "🎉", "nothing here"),
    ],
)
def test_found_words_are_marked_as_the_server_compares_them(text, query, expected):
    assert marked(text, query, lambda word: f"*{word}*") == expected


def test_search_lists_numbered_results_with_room_author_and_time(client, capsys):
    chat, api = client
    assert chat.command("/search deplo")
    out = capsys.readouterr().out
    assert api.calls[0] == ("GET", "/search", {"q": "deplo", "limit": 10})
    assert "1. [ops] 2026-03-04 10:20 bob: The *deployment* FAILED" in out
    assert "2. [general] 2026-03-04 10:20 bob: *déploiement* prévu" in out
    assert "/more" in out
    # The next page goes on from the server's next_before, numbering on
    chat.command("/more")
    assert api.calls[-1] == ("GET", "/search", {"q": "deplo", "limit": 10, "before": "m5"})
    assert "3. [general]" in capsys.readouterr().out
    chat.command("/more")
    assert "no more results" in capsys.readouterr().out


def test_search_here_needs_an_open_room_and_names_it(client, capsys):
    chat, api = client
    chat.command("/search here deplo")
    assert "open a room first" in capsys.readouterr().out
    chat.session.enter({"room_id": "r1", "name": "general", "code": "C1"})
    chat.command("/search here deplo")
    assert ("GET", "/search", {"q": "deplo", "limit": 10, "room_id": "r1"}) in api.calls


def test_goto_opens_the_room_and_shows_the_messages_up_to_the_result(client, capsys):
    chat, api = client
    chat.command("/search deplo")
    capsys.readouterr()
    chat.command("/goto 2")
    out = capsys.readouterr().out
    assert chat.session.is_open("r1")
    assert ("GET", "/rooms/r1/messages", {"limit": 9, "before": "m5"}) in api.calls
    assert out.index("before it") < out.index("déploiement prévu")
    chat.command("/goto 7")
    assert "no result 7" in capsys.readouterr().out
