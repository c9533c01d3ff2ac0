"""What every part of the client shares: the API, the screen, who is signed in, the open
room, and the WebSocket that frames are sent on."""

from __future__ import annotations

import json
import time
import uuid
from typing import Any

from websockets.exceptions import ConnectionClosed
from websockets.sync.client import ClientConnection

from terminal.api import Api
from terminal.screen import Screen


class Session:
    def __init__(self, api: Api, screen: Screen):
        self.api = api
        self.screen = screen
        self.username = ""
        self.current: dict[str, Any] | None = None  # the open room
        self.names: dict[str, str] = {}  # room id -> name
        self.socket: ClientConnection | None = None

    # ------------------------------------------------------------------ the open room
    def enter(self, room: dict[str, Any] | None) -> None:
        """Open a room (None: no room); the prompt names it."""
        self.current = room
        if room is None:
            self.screen.prompt = "> "
            return
        self.names[room["room_id"]] = room["name"]
        self.screen.prompt = self.screen.paint(f"[{room['name']}]", "1") + " > "

    def is_open(self, room_id: str) -> bool:
        return self.current is not None and self.current["room_id"] == room_id

    # ------------------------------------------------------------------ output
    def note(self, text: str) -> None:
        self.screen.line(self.screen.paint(f"  {text}", "2"))

    def who(self, username: str, is_bot: bool = False) -> str:
        if is_bot or username == "bot":
            return self.screen.paint(f"🤖 {username}", "35;1")
        colour = "1" if username == self.username else f"3{1 + sum(map(ord, username)) % 6}"
        return self.screen.paint(username, colour)

    def room_tag(self, room_id: str) -> str:
        """`[room] ` before a line of a room that is not the open one."""
        if self.is_open(room_id):
            return ""
        return self.screen.paint(f"[{self.names.get(room_id, room_id[:8])}] ", "2")

    def bot_header(self, room_id: str, bot: str = "bot") -> str:
        return f"{self.room_tag(room_id)}{self.screen.paint(time.strftime('%H:%M'), '2')} {self.who(bot, True)}: "

    # ------------------------------------------------------------------ sending
    def send(self, **frame: Any) -> None:
        if self.socket is None:
            raise ConnectionError("not connected")
        self.socket.send(json.dumps(frame))

    def say(self, text: str, reply_to: str | None = None, *, private: bool = False) -> None:
        """A message to the open room: over the WebSocket, or REST when it is down. A
        `private` command and its answer are shown to its author only."""
        if self.current is None:
            self.note("open a room first: /rooms, /open N, /create NAME or /join CODE")
            return
        frame = {
            "type": "message",
            "room_id": self.current["room_id"],
            "content": text,
            "client_id": uuid.uuid4().hex,
        }
        if reply_to:
            frame["reply_to"] = reply_to
        if private:
            frame["private"] = True
        try:
            self.send(**frame)
        except (ConnectionError, ConnectionClosed):
            fields = ("content", "client_id", "reply_to", "private")
            body = {key: frame[key] for key in fields if key in frame}
            self.api.call("POST", f"/rooms/{self.current['room_id']}/messages", body)
