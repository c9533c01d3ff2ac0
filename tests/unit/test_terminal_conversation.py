"""The terminal client's conversation commands and frames, on a recording API (no network)."""

from __future__ import annotations

from typing import Any

from terminal.client import ChatClient
from terminal.screen import Screen


class RecordingApi:
    def __init__(self) -> None:
        self.calls: list[tuple[str, str, Any]] = []
        self.token = "t"

    def call(self, method: str, path: str, body: Any = None, **params: Any) -> Any:
        self.calls.append((method, path, body))
        if "/reactions/" in path:
            return {"reactions": [{"emoji": "👍", "count": 1, "usernames": ["alice"]}]}
        if method == "PATCH" and "/messages/" in path:
            return {
                **_message("m1", "alice", body["content"]),
                "edited_at": "2026-01-01T00:00:01.000Z",
            }
        return {"room_id": "r1", "code": "NEW1-NEW1-NEW1", "name": "x"}


def _message(message_id: str, username: str, content: str, **extra: Any) -> dict[str, Any]:
    return {
        "message_id": message_id,
        "room_id": "r1",
        "username": username,
        "content": content,
        "is_bot": False,
        "created_at": "2026-01-01T00:00:00.000Z",
        **extra,
    }


def _client(capsys) -> tuple[ChatClient, RecordingApi]:
    api = RecordingApi()
    screen = Screen()
    screen.colour = screen.interactive = False
    client = ChatClient(api, "ws://unused", screen)  # type: ignore[arg-type]
    client.session.username = "alice"
    client.session.current = {"room_id": "r1", "name": "general", "code": "OLD"}
    client.sent = []  # type: ignore[attr-defined]
    client.session.send = lambda **frame: client.sent.append(frame)  # type: ignore[method-assign]
    for message in (
        _message("m1", "alice", "first"),
        _message("m2", "bob", "second", reply_to="m1"),
        _message("m3", "bob", "third"),
    ):
        client.show_message(message)
    capsys.readouterr()
    return client, api


def test_messages_are_numbered_and_replies_point_at_their_number(capsys):
    client, _ = _client(capsys)
    client.show_message(
        _message(
            "m4",
            "bob",
            "late",
            reply_to="m2",
            reactions=[{"emoji": "🎉", "count": 2, "usernames": ["a", "b"]}],
            edited_at="x",
        )
    )
    line = capsys.readouterr().out
    assert line.startswith("#4 ")
    assert "↪ #2 bob: late (edited) [🎉 2]" in line


def test_edit_and_delete_without_a_number_mean_your_last_message(capsys):
    client, api = _client(capsys)
    client.command("/edit fixed")
    client.command("/delete")
    assert api.calls == [
        ("PATCH", "/rooms/r1/messages/m1", {"content": "fixed"}),
        ("DELETE", "/rooms/r1/messages/m1", None),
    ]


def test_reply_and_react_name_a_message_by_number(capsys):
    client, api = _client(capsys)
    client.command("/reply 2 sure")
    client.command("/react 3 👍")
    assert client.sent == [  # type: ignore[attr-defined]
        {
            "type": "message",
            "room_id": "r1",
            "content": "sure",
            "client_id": client.sent[0]["client_id"],
            "reply_to": "m2",
        }  # type: ignore[attr-defined]
    ]
    assert api.calls == [("PUT", "/rooms/r1/messages/m3/reactions/%F0%9F%91%8D", None)]


def test_owner_commands_call_the_moderation_routes(capsys):
    client, api = _client(capsys)
    client.command("/rename crew")
    client.command("/remove bob")
    client.command("/newcode")
    assert [call[:2] for call in api.calls] == [
        ("PATCH", "/rooms/r1"),
        ("DELETE", "/rooms/r1/members/bob"),
        ("POST", "/rooms/r1/code"),
    ]
    assert client.session.current["code"] == "NEW1-NEW1-NEW1"


def test_frames_are_shown_as_they_arrive(capsys):
    client, _ = _client(capsys)
    client.on_frame(
        {
            "type": "reaction",
            "room_id": "r1",
            "message_id": "m2",
            "emoji": "👍",
            "username": "bob",
            "added": True,
            "count": 1,
        }
    )
    client.on_frame({"type": "message_updated", **_message("m3", "bob", "third!")})
    client.on_frame({"type": "message_deleted", "room_id": "r1", "message_id": "m1"})
    client.on_frame({"type": "room_updated", "room_id": "r1", "name": "crew"})
    client.on_frame({"type": "removed", "room_id": "r1"})
    out = capsys.readouterr().out.splitlines()
    assert out == [
        "  bob reacted 👍 on #2 (1)",
        "  bob edited #3: third!",
        "  #1 was deleted",
        "  the room is now called crew",
        "  you were removed from crew",
    ]
    assert client.session.current is None


def test_mentions_are_marked_yours_most_of_all(capsys):
    client, _ = _client(capsys)
    client.show_message(
        _message("m5", "bob", "@ALICE and @carol, mail bob@alice.com", mentions=["alice", "carol"])
    )
    line = capsys.readouterr().out
    assert ">>@ALICE<< and @carol, mail bob@alice.com" in line  # no colour: marked in text
    client.screen.colour = True
    client.show_message(_message("m6", "bob", "@carol only", mentions=["carol"]))
    assert "\033[1m@carol\033[0m only" in capsys.readouterr().out


def test_a_mention_elsewhere_is_announced(capsys):
    client, _ = _client(capsys)
    client.on_frame(
        {
            "type": "mention",
            "room_id": "r2",
            "message_id": "m9",
            "username": "bob",
            "content": "@alice look",
        }
    )
    assert "bob mentioned you: >>@alice<< look" in capsys.readouterr().out
    client.on_frame(  # in the open room the message itself shows it
        {
            "type": "mention",
            "room_id": "r1",
            "message_id": "m9",
            "username": "bob",
            "content": "@alice",
        }
    )
    assert capsys.readouterr().out == ""
