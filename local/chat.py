"""`make chat`: a terminal client for the chat, against the local stack or a deployed one.

    python -m local.chat                                  # the local stack (make dev)
    python -m local.chat --rest-url https://…/v1 --ws-url wss://…/v1
    python -m local.chat --username alice --register --room K7QX-2M9P

Log in or register, then type to talk in the current room; commands start with `/`
(`/help`). Messages, presence, typing and the bot's answer (streamed as it is written)
arrive live over the WebSocket while you type. `/stop` stops the bot's answer, `/regenerate`
asks for another one. After a reconnect, an answer still being written is picked up where
the stored copy ends (API.md, "Resuming a stream after a reconnect": `apply_frame`).
"""

from __future__ import annotations

import argparse
import contextlib
import getpass
import json
import os
import sys
import threading
import time
import uuid
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.sync.client import ClientConnection, connect

from local.chat_conversation import HELP as CONVERSATION_HELP
from local.chat_conversation import Conversation
from local.chat_search import HELP as SEARCH_HELP
from local.chat_search import Search

try:  # line editing and history for input(); absent on some platforms
    import readline
except ImportError:  # pragma: no cover
    readline = None  # type: ignore[assignment]

DEFAULT_REST_URL = "http://127.0.0.1:3000"
DEFAULT_WS_URL = "ws://127.0.0.1:3001"
KEEPALIVE_SECONDS = 240  # API Gateway closes WebSockets idle for 10 minutes
# A streaming answer's stored copy is at most this old (API.md): read after this long, it
# holds everything sent before the client (re)joined.
STORED_PREFIX_MAX_AGE = 2.0
HELP = f"""\
commands:
  /rooms                 your rooms            /open N|name|id    switch to a room
  /create NAME           new room (you own it) /join CODE         join a room by its code
  /history [N]           last N messages       /members           who is in the room
  /invite USERNAME       add someone           /leave             leave the room for good
  /bot                   bot settings          /bot key|model|prompt VALUE   (owner)
  /attach PATH [text]    send a file (PNG, JPEG, WEBP, GIF, PDF, .txt, .md; up to 10 MiB)
  /stop                  stop the bot's answer /regenerate        another answer to the last one
  /help                  this list             /quit              (or Ctrl-D)
{CONVERSATION_HELP}
{SEARCH_HELP}
anything else is a message to the current room; start it with @bot to ask the bot."""


_TYPES = {
    ".png": "image/png",
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".webp": "image/webp",
    ".gif": "image/gif",
    ".pdf": "application/pdf",
    ".txt": "text/plain",
    ".md": "text/markdown",
}


def _content_type(path: Path) -> str | None:
    return _TYPES.get(path.suffix.lower())


def _size(size: int) -> str:
    return (
        f"{size} B"
        if size < 1024
        else f"{size / 1024:.0f} KiB"
        if size < 1024**2
        else f"{size / 1024**2:.1f} MiB"
    )


class ApiError(Exception):
    def __init__(self, status: int, code: str, message: str):
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


class Api:
    def __init__(self, base_url: str):
        self.http = httpx.Client(base_url=base_url.rstrip("/"), timeout=30)
        self.token: str | None = None

    def call(self, method: str, path: str, body: Any = None, **params: Any) -> Any:
        headers = {"Authorization": f"Bearer {self.token}"} if self.token else {}
        try:
            response = self.http.request(
                method, path, json=body, headers=headers, params=params or None
            )
        except httpx.HTTPError as exc:
            raise ApiError(
                0, "unreachable", f"{self.http.base_url} is unreachable ({exc})"
            ) from exc
        if response.status_code == 204:
            return None
        try:
            data = response.json()
        except ValueError:
            data = {}
        if response.status_code >= 400:
            error = data.get("error") or {}
            message = error.get("message") or data.get("message") or response.reason_phrase
            details = "; ".join(
                f"{'.'.join(map(str, d.get('loc', [])[-1:]))} {d.get('msg', '')}".strip()
                for d in error.get("details") or []
            )
            raise ApiError(
                response.status_code,
                error.get("code", str(response.status_code)),
                f"{message} {details}".strip(),
            )
        return data


class Screen:
    """Prints incoming lines above what the user is typing, and streams the bot's answer."""

    def __init__(self) -> None:
        self.interactive = sys.stdin.isatty() and sys.stdout.isatty()
        self.colour = sys.stdout.isatty() and not os.environ.get("NO_COLOR")
        self.prompt = ""
        self.lock = threading.RLock()
        self.streaming: str | None = None  # message id of the answer being streamed
        self.reading = False  # input() is showing the prompt

    def read(self) -> str:
        self.reading = True
        try:
            return input(self.prompt if self.interactive else "")
        finally:
            self.reading = False

    def paint(self, text: str, code: str) -> str:
        return f"\033[{code}m{text}\033[0m" if self.colour else text

    def _restore_prompt(self) -> None:
        if self.interactive and self.reading:
            buffer = readline.get_line_buffer() if readline else ""
            sys.stdout.write(self.prompt + buffer)

    def line(self, text: str) -> None:
        with self.lock:
            if self.streaming is not None:  # interrupting an answer: it goes on below
                sys.stdout.write("\n")
                self.streaming = None
            elif self.interactive and self.reading:
                sys.stdout.write("\r\033[K")
            sys.stdout.write(text + "\n")
            self._restore_prompt()
            sys.stdout.flush()

    def stream(self, message_id: str, header: str, chunk: str) -> None:
        with self.lock:
            if self.streaming != message_id:
                if self.streaming is not None:
                    sys.stdout.write("\n")
                elif self.interactive and self.reading:
                    sys.stdout.write("\r\033[K")
                sys.stdout.write(header)
                self.streaming = message_id
            sys.stdout.write(chunk)
            sys.stdout.flush()

    def end_stream(self, message_id: str) -> None:
        with self.lock:
            if self.streaming == message_id:
                sys.stdout.write("\n")
                self.streaming = None
                self._restore_prompt()
                sys.stdout.flush()


def apply_frame(text: str, frame: dict[str, Any]) -> str | None:
    """The answer after one ``bot_stream`` frame, given the text known so far (a stored
    prefix, or what earlier frames built): the part of ``chunk`` past the text is appended
    (API.md: ``chunk[len(content) - offset:]`` when ``offset + len(chunk) > len(content)``).
    None when the chunk starts past the text: frames were missed, so the stored copy must be
    read again (after ``STORED_PREFIX_MAX_AGE`` it covers them)."""
    offset, chunk = frame["offset"], frame["chunk"]
    if offset > len(text):
        return None
    if offset + len(chunk) > len(text):
        return text + chunk[len(text) - offset :]
    return text


def _clock(iso: str | None) -> str:
    if not iso:
        return "--:--"
    with contextlib.suppress(ValueError):
        return datetime.fromisoformat(iso.replace("Z", "+00:00")).astimezone().strftime("%H:%M")
    return iso[11:16]


class ChatClient(Conversation, Search):
    def __init__(self, api: Api, ws_url: str, screen: Screen):
        self.api = api
        self.ws_url = ws_url
        self.screen = screen
        self.username = ""
        self.rooms: list[dict[str, Any]] = []
        self.names: dict[str, str] = {}  # room id -> name
        self.current: dict[str, Any] | None = None
        self.socket: ClientConnection | None = None
        self.closing = False
        self.streamed: dict[str, str] = {}  # bot message id -> text so far
        self.missed: dict[str, list[dict[str, Any]]] = {}  # frames past a gap, per answer
        self.answering: dict[str, str] = {}  # room id -> the bot answer being streamed
        self.last_answer: dict[str, str] = {}  # room id -> the bot's last answer
        self.typing: dict[tuple[str, str], float] = {}
        self.init_conversation()
        self.init_search()

    # ------------------------------------------------------------------ output
    def who(self, username: str, is_bot: bool = False) -> str:
        if is_bot or username == "bot":
            return self.screen.paint("🤖 bot", "35;1")
        colour = "1" if username == self.username else f"3{1 + sum(map(ord, username)) % 6}"
        return self.screen.paint(username, colour)

    def note(self, text: str) -> None:
        self.screen.line(self.screen.paint(f"  {text}", "2"))

    def room_tag(self, room_id: str) -> str:
        if self.current and room_id == self.current["room_id"]:
            return ""
        return self.screen.paint(f"[{self.names.get(room_id, room_id[:8])}] ", "2")

    def show_message(self, message: dict[str, Any], *, live: bool = False) -> None:
        if message.get("is_bot"):
            self.last_answer[message["room_id"]] = message["message_id"]
        if message.get("is_bot") and (
            message["message_id"] in self.streamed
            or (live and message.get("status") == "streaming")
        ):
            return  # shown as it streams (bot_stream frames)
        status = (
            "" if message.get("status", "complete") == "complete" else f" ({message['status']})"
        )
        number, reply = self.remember(message), self.reply_marker(message)
        self.screen.line(
            f"{self.room_tag(message['room_id'])}{number}{self.screen.paint(_clock(message.get('created_at')), '2')} "
            f"{reply}{self.who(message['username'], message.get('is_bot', False))}: "
            f"{self.shown_text(message)}{status}{self.decorations(message)}"
        )
        for attachment in message.get("attachments") or []:
            self.note(
                f"📎 {attachment['filename']} ({attachment['content_type']}, "
                f"{_size(attachment['size'])}) {attachment['url']}"
            )

    # ------------------------------------------------------------------ WebSocket
    def connect(self) -> None:
        url = f"{self.ws_url}{'&' if '?' in self.ws_url else '?'}token={self.api.token}"
        self.socket = connect(url, open_timeout=15, close_timeout=2, legacy=True)
        threading.Thread(target=self._receive, args=(self.socket,), daemon=True).start()

    def send(self, **frame: Any) -> None:
        if self.socket is None:
            raise ConnectionError("not connected")
        self.socket.send(json.dumps(frame))

    def _receive(self, socket: ClientConnection) -> None:
        try:
            for raw in socket:
                try:
                    frame = json.loads(raw)
                except ValueError:
                    continue
                self.on_frame(frame)
        except ConnectionClosed:
            pass
        if not self.closing and socket is self.socket:
            self._reconnect()

    def _reconnect(self) -> None:
        for attempt in range(1, 6):
            self.note(f"connection lost; reconnecting ({attempt}/5) …")
            time.sleep(min(2**attempt, 15))
            try:
                self.connect()
            except (OSError, InvalidStatus, TimeoutError):
                continue
            if self.current:
                self.send(type="join", room_id=self.current["room_id"])
                self.resume(self.current["room_id"])
            return
        self.note("could not reconnect: restart the client")

    def keepalive(self) -> None:
        while not self.closing:
            time.sleep(KEEPALIVE_SECONDS)
            with contextlib.suppress(Exception):
                self.send(type="ping")

    def on_frame(self, frame: dict[str, Any]) -> None:
        kind = frame.get("type")
        room_id = frame.get("room_id", "")
        if self.on_conversation_frame(frame):
            return
        if kind == "message":
            self.show_message(frame, live=True)
        elif kind == "bot_stream":
            self.on_stream(frame)
        elif kind == "bot_error":
            self.screen.line(
                f"{self.room_tag(room_id)}{self.who('bot', True)}: "
                + self.screen.paint(f"[{frame.get('code')}] {frame.get('message')}", "31")
            )
        elif kind == "typing":
            key = (room_id, frame.get("username", ""))
            if frame.get("is_typing") and frame.get("username") != self.username:
                if time.monotonic() - self.typing.get(key, 0) > 5:  # say it once, not per keystroke
                    self.note(f"{self.room_tag(room_id)}{frame['username']} is typing …")
                self.typing[key] = time.monotonic()
            else:
                self.typing.pop(key, None)
        elif kind == "presence":
            self.note(f"{self.room_tag(room_id)}{frame.get('username')} is {frame.get('status')}")
        elif kind == "joined":
            online = ", ".join(frame.get("online") or []) or "nobody"
            self.note(f"{self.room_tag(room_id)}online: {online}")
        elif kind == "error":
            self.screen.line(
                self.screen.paint(f"  ! {frame.get('message')} ({frame.get('code')})", "31")
            )
        elif kind is None and "message" in frame and "connectionId" in frame:
            # API Gateway's own error frame (the function failed or timed out)
            self.screen.line(self.screen.paint(f"  ! gateway: {frame['message']}", "31"))

    def on_stream(self, frame: dict[str, Any]) -> None:
        """A ``bot_stream`` frame: print what it adds to the answer (by its offset)."""
        room_id, message_id = frame["room_id"], frame["message_id"]
        with self.screen.lock:
            known = self.streamed.get(message_id, "")
            if frame.get("is_complete"):
                self.missed.pop(message_id, None)
                self.answering.pop(room_id, None)
                self.last_answer[room_id] = message_id
                full = frame.get("full_response") or ""
                if full.startswith(known) and len(full) > len(known):
                    self.screen.stream(message_id, self._bot_header(room_id), full[len(known) :])
                self.streamed[message_id] = full
                if frame.get("stopped"):
                    self.screen.stream(
                        message_id, self._bot_header(room_id), self.screen.paint(" [stopped]", "2")
                    )
                self.screen.end_stream(message_id)
                return
            self.answering[room_id] = message_id
            if message_id in self.missed:  # waiting for the stored copy
                self.missed[message_id].append(frame)
                return
            text = apply_frame(known, frame)
            if text is None:  # frames were missed (a reconnect): read the stored copy later
                self.missed[message_id] = [frame]
                threading.Thread(
                    target=self._catch_up, args=(room_id, message_id), daemon=True
                ).start()
                return
            self._show_more(room_id, message_id, known, text)

    def _show_more(self, room_id: str, message_id: str, known: str, text: str) -> None:
        if len(text) > len(known):
            self.screen.stream(message_id, self._bot_header(room_id), text[len(known) :])
        self.streamed[message_id] = text

    def _catch_up(self, room_id: str, message_id: str) -> None:
        """After a gap: wait until the stored copy covers the missed frames, read it, and
        replay the frames that came since."""
        time.sleep(STORED_PREFIX_MAX_AGE)
        stored = self._stored(room_id, message_id)
        with self.screen.lock:
            frames = self.missed.pop(message_id, None)
            if frames is None:
                return  # the final frame came meanwhile
            known = self.streamed.get(message_id, "")
            text: str | None = stored if stored is not None and stored.startswith(known) else known
            for frame in frames:
                text = apply_frame(text, frame) if text is not None else None
            if text is None:
                self.note("part of the bot's answer was missed; /history shows it when done")
                text = known
            self._show_more(room_id, message_id, known, text)

    def _stored(self, room_id: str, message_id: str) -> str | None:
        with contextlib.suppress(ApiError):
            page = self.api.call("GET", f"/rooms/{room_id}/messages", limit=50)
            for message in page["messages"]:
                if message["message_id"] == message_id:
                    return str(message["content"])
        return None

    def resume(self, room_id: str) -> None:
        """After a reconnect: pick up the answers still being written from their stored copy."""
        with contextlib.suppress(ApiError):
            page = self.api.call("GET", f"/rooms/{room_id}/messages", limit=20)
            for message in page["messages"]:
                if message.get("is_bot") and message.get("status") == "streaming":
                    with self.screen.lock:
                        known = self.streamed.get(message["message_id"], "")
                        stored = message["content"]
                        if stored.startswith(known):
                            self._show_more(room_id, message["message_id"], known, stored)

    def stop_answer(self, argument: str) -> None:
        assert self.current is not None
        room_id = self.current["room_id"]
        message_id = argument or self.answering.get(room_id)
        if not message_id:
            self.note("the bot is not answering right now")
            return
        try:
            self.send(type="bot_stop", room_id=room_id, message_id=message_id)
        except (ConnectionError, ConnectionClosed):
            self.api.call("POST", f"/rooms/{room_id}/messages/{message_id}/stop")

    def regenerate(self, argument: str) -> None:
        assert self.current is not None
        room_id = self.current["room_id"]
        message_id = argument or self.last_answer.get(room_id)
        if not message_id:
            self.note("no answer of the bot to regenerate yet")
            return
        self.api.call("POST", f"/rooms/{room_id}/messages/{message_id}/regenerate")
        self.note("asked the bot for another answer")

    def _bot_header(self, room_id: str) -> str:
        return f"{self.room_tag(room_id)}{self.screen.paint(time.strftime('%H:%M'), '2')} {self.who('bot', True)}: "

    # ------------------------------------------------------------------ rooms
    def refresh_rooms(self) -> None:
        self.rooms = self.api.call("GET", "/rooms")["rooms"]
        self.names.update({room["room_id"]: room["name"] for room in self.rooms})

    def list_rooms(self) -> None:
        self.refresh_rooms()
        if not self.rooms:
            self.note("no rooms yet: /create NAME, or /join CODE")
            return
        for index, room in enumerate(self.rooms, 1):
            marker = "*" if self.current and room["room_id"] == self.current["room_id"] else " "
            last = (
                _clock(room.get("last_message_at"))
                if room.get("last_message_at")
                else "no messages"
            )
            unread = room.get("unread_count") or 0
            news = self.screen.paint(f" {unread}{'+' if unread >= 100 else ''} unread", "33;1")
            self.note(
                f"{marker}{index:>2}. {room['name']:<24} code {room['code']:<12} {last}"
                + (news if unread else "")
            )

    def open(self, room: dict[str, Any], history: int = 20) -> None:
        if self.current and self.current["room_id"] != room["room_id"]:
            with contextlib.suppress(Exception):
                self.send(type="leave", room_id=self.current["room_id"])
        self.current = room
        self.names[room["room_id"]] = room["name"]
        self.screen.prompt = self.screen.paint(f"[{room['name']}]", "1") + " > "
        self.note(f"— {room['name']} (code {room['code']}) —")
        self.forget_numbers()
        if history:
            self.history(history)
        self.send(type="join", room_id=room["room_id"])

    def find_room(self, key: str) -> dict[str, Any] | None:
        self.refresh_rooms()
        if key.isdigit() and 1 <= int(key) <= len(self.rooms):
            return self.rooms[int(key) - 1]
        for room in self.rooms:
            if key in (room["room_id"], room["code"]) or room["name"].lower() == key.lower():
                return room
        return None

    def history(self, limit: int) -> None:
        assert self.current is not None
        page = self.api.call("GET", f"/rooms/{self.current['room_id']}/messages", limit=limit)
        if not page["messages"]:
            self.note("no messages yet")
        for message in page["messages"]:
            self.streamed.pop(message["message_id"], None)
            self.show_message(message)
        if page["messages"]:
            self.mark_read_soon(page["messages"][-1]["message_id"])

    # ------------------------------------------------------------------ commands
    def command(self, line: str) -> bool:
        """Run a /command; False to quit."""
        name, _, argument = line[1:].partition(" ")
        argument = argument.strip()
        needs_room = {
            "history",
            "members",
            "invite",
            "leave",
            "bot",
            "attach",
            "stop",
            "regenerate",
        }
        if name in needs_room and self.current is None:
            self.note("open a room first: /rooms, /open N")
            return True
        if name in ("quit", "exit", "q"):
            return False
        if name == "help":
            self.note(HELP.replace("\n", "\n  "))
        elif name == "rooms":
            self.list_rooms()
        elif name == "create" and argument:
            self.open(self.api.call("POST", "/rooms", {"name": argument}))
            self.note("invite people with /invite USERNAME, or give them the code")
        elif name == "join" and argument:
            self.open(self.api.call("POST", "/rooms/join", {"code": argument}))
        elif name == "open" and argument:
            room = self.find_room(argument)
            if room is None:
                self.note(f"no room {argument!r}: /rooms lists yours")
            else:
                self.open(room)
        elif name == "history":
            self.history(int(argument) if argument.isdigit() else 50)
        elif name == "members":
            assert self.current is not None
            members = self.api.call("GET", f"/rooms/{self.current['room_id']}/members")["members"]
            for member in members:
                state = self.screen.paint("online", "32") if member["online"] else "offline"
                self.note(f"{member['username']:<20} {member['role']:<7} {state}")
        elif name == "invite" and argument:
            assert self.current is not None
            self.api.call(
                "POST", f"/rooms/{self.current['room_id']}/invite", {"username": argument}
            )
            self.note(f"{argument} is now a member")
        elif name == "leave":
            assert self.current is not None
            self.api.call("DELETE", f"/rooms/{self.current['room_id']}/members/me")
            self.note(f"you left {self.current['name']}")
            self.current, self.screen.prompt = None, "> "
        elif name == "bot":
            self.bot_settings(argument)
        elif name == "attach" and argument:
            self.attach(argument)
        elif name == "unread":
            self.list_rooms()
        elif self.conversation_command(name, argument) or self.search_command(name, argument):
            pass
        elif name == "stop":
            self.stop_answer(argument)
        elif name == "regenerate":
            self.regenerate(argument)
        else:
            self.note(f"unknown or incomplete command /{name}: /help")
        return True

    def bot_settings(self, argument: str) -> None:
        assert self.current is not None
        path = f"/rooms/{self.current['room_id']}/bot"
        field, _, value = argument.partition(" ")
        fields = {"key": "gemini_api_key", "model": "model", "prompt": "system_prompt"}
        if field:
            if field not in fields:
                self.note(
                    "usage: /bot key KEY | /bot key none | /bot model NAME | /bot prompt TEXT"
                )
                return
            new_value: str | None = value.strip()
            if field == "key" and new_value in ("", "none", "null"):
                new_value = None
            settings = self.api.call("PUT", path, {fields[field]: new_value})
        else:
            settings = self.api.call("GET", path)
        self.note(
            f"model {settings['model']}, own API key: {'yes' if settings['has_api_key'] else 'no'}, "
            f"system prompt: {settings.get('system_prompt') or '(default)'}"
        )

    def say(self, text: str, reply_to: str | None = None) -> None:
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
        try:
            self.send(**frame)
        except (ConnectionError, ConnectionClosed):  # the WebSocket is down: REST still works
            body = {key: frame[key] for key in ("content", "client_id", "reply_to") if key in frame}
            self.api.call("POST", f"/rooms/{self.current['room_id']}/messages", body)

    def attach(self, argument: str) -> None:
        """/attach PATH [text]: declare the file, upload it with the presigned POST, send it."""
        assert self.current is not None
        path_text, _, text = argument.partition(" ")
        path = Path(path_text).expanduser()
        if not path.is_file():
            self.note(f"no file {path_text!r}")
            return
        content_type = _content_type(path)
        if content_type is None:
            self.note("only PNG, JPEG, WEBP, GIF, PDF, .txt and .md files can be attached")
            return
        data = path.read_bytes()
        declared = self.api.call(
            "POST",
            f"/rooms/{self.current['room_id']}/attachments",
            {"filename": path.name, "content_type": content_type, "size": len(data)},
        )
        form = declared["upload"]
        try:
            uploaded = httpx.post(
                form["url"], data=form["fields"], files={"file": (path.name, data)}, timeout=60
            )
        except httpx.HTTPError as exc:
            self.note(f"upload failed: {exc}")
            return
        if uploaded.status_code >= 300:
            self.note(f"upload refused by storage ({uploaded.status_code}): {uploaded.text[:200]}")
            return
        # Over REST: it answers once the message is stored (the WebSocket then shows it).
        self.api.call(
            "POST",
            f"/rooms/{self.current['room_id']}/messages",
            {"content": text.strip(), "attachments": [declared["attachment_id"]]},
        )

    # ------------------------------------------------------------------ session
    def run(self) -> None:
        self.connect()
        threading.Thread(target=self.keepalive, daemon=True).start()
        self.screen.prompt = "> "
        self.note(f"signed in as {self.username}. /help for commands.")
        self.list_rooms()

    def loop(self) -> None:
        while True:
            try:
                line = self.screen.read()
            except EOFError:
                return
            except KeyboardInterrupt:
                if self.screen.interactive:
                    sys.stdout.write("\n")
                return
            line = line.strip()
            if not line:
                continue
            try:
                if line.startswith("/"):
                    if not self.command(line):
                        return
                else:
                    if self.screen.interactive:  # the server's echo of it replaces the typed line
                        sys.stdout.write("\033[1A\r\033[K")
                        sys.stdout.flush()
                    self.say(line)
            except ApiError as exc:
                self.screen.line(self.screen.paint(f"  ! {exc.message} ({exc.code})", "31"))
            except (ConnectionError, ConnectionClosed) as exc:
                self.screen.line(self.screen.paint(f"  ! not connected: {exc}", "31"))

    def close(self) -> None:
        self.closing = True
        if self.socket is not None:
            with contextlib.suppress(Exception):
                self.socket.close()


def sign_in(api: Api, args: argparse.Namespace, screen: Screen) -> str:
    """Register or log in (asking what is missing); sets api.token and returns the username."""
    interactive = sys.stdin.isatty()
    while True:
        register = args.register
        username = args.username
        if not username:
            if not interactive:
                raise SystemExit("error: --username is needed when the input is not a terminal")
            choice = input("(l)og in or (r)egister? [l] ").strip().lower()
            register = choice.startswith("r")
            username = input("username: ").strip()
        password = args.password or os.environ.get("CHAT_PASSWORD")
        if not password:
            if not interactive:
                raise SystemExit(
                    "error: --password or CHAT_PASSWORD is needed when the input is not a terminal"
                )
            password = getpass.getpass("password: ")
        body = {"username": username, "password": password}
        try:
            if register:
                result = api.call("POST", "/auth/register", body)
            else:
                result = api.call("POST", "/auth/login", body)
        except ApiError as exc:
            screen.line(screen.paint(f"  ! {exc.message} ({exc.code})", "31"))
            if exc.code == "unreachable" or not interactive or args.username:
                raise SystemExit(1) from None
            continue
        api.token = result["access_token"]
        return result["user"]["username"]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m local.chat", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument(
        "--rest-url",
        default=os.environ.get("CHAT_REST_URL", DEFAULT_REST_URL),
        help="REST API base URL [CHAT_REST_URL]",
    )
    parser.add_argument(
        "--ws-url",
        default=os.environ.get("CHAT_WS_URL", DEFAULT_WS_URL),
        help="WebSocket URL [CHAT_WS_URL]",
    )
    parser.add_argument("--username", "-u", help="log in (or register) as this user")
    parser.add_argument("--password", help="password (else CHAT_PASSWORD, else asked)")
    parser.add_argument("--register", action="store_true", help="create the account first")
    parser.add_argument(
        "--room",
        help="open this room at start: a room's code joins it, else its number, name or id",
    )
    args = parser.parse_args(argv)

    screen = Screen()
    api = Api(args.rest_url)
    client = ChatClient(api, args.ws_url.rstrip("/"), screen)
    try:
        client.username = sign_in(api, args, screen)
        try:
            client.run()
        except (OSError, InvalidStatus, TimeoutError) as exc:
            raise SystemExit(f"error: cannot open the WebSocket at {args.ws_url}: {exc}") from None
        if args.room:
            room = client.find_room(args.room)
            try:
                client.open(room or api.call("POST", "/rooms/join", {"code": args.room}))
            except ApiError as exc:
                screen.line(screen.paint(f"  ! {args.room}: {exc.message}", "31"))
        client.loop()
    except KeyboardInterrupt:
        pass
    except ApiError as exc:
        raise SystemExit(f"error: {exc.message} ({exc.code})") from None
    finally:
        client.close()


if __name__ == "__main__":
    main()
