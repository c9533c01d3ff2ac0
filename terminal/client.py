"""The client put together: the WebSocket's frames, the rooms and the commands.

Messages, presence, typing and the bot's answer (streamed as it is written) arrive over the
WebSocket while the user types; commands start with `/` (`/help`).
"""

from __future__ import annotations

import contextlib
import json
import sys
import threading
import time
from pathlib import Path
from typing import Any

import httpx
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.sync.client import ClientConnection, connect

from terminal.answers import BotAnswers, tool_notes
from terminal.api import Api, ApiError
from terminal.bots import HELP as BOTS_HELP
from terminal.bots import Bots, settings_change
from terminal.conversation import HELP as CONVERSATION_HELP
from terminal.conversation import Conversation
from terminal.screen import Screen, clock, file_size
from terminal.search import HELP as SEARCH_HELP
from terminal.search import Search
from terminal.session import Session

KEEPALIVE_SECONDS = 240  # API Gateway closes WebSockets idle for 10 minutes
HELP = f"""\
commands:
  /rooms                 your rooms            /open N|name|id    switch to a room
  /create NAME           new room (you own it) /join CODE         join a room by its code
  /history [N]           last N messages       /members           who is in the room
  /invite USERNAME       add someone           /leave             leave the room for good
  /bot                   bot settings          /bot key|model|prompt VALUE   (owner)
  /bot tools room_search,web_search|none       /bot budget TOKENS|none       (owner)
  /usage [YYYY-MM]       what the room's bots used this month (or that one)
  /attach PATH [text]    send a file (PNG, JPEG, WEBP, GIF, PDF, .txt, .md; up to 10 MiB)
  /stop                  stop the bot's answer /regenerate        another answer to the last one
  /help                  this list             /quit              (or Ctrl-D)
  /logout                sign out: this session's token stops working, then quit
{BOTS_HELP}
{CONVERSATION_HELP}
{SEARCH_HELP}
anything else is a message to the current room; start it with @bot (or @NAME) to ask a bot."""
# The commands that act on the open room.
ROOM_COMMANDS = {
    "bots",
    "private",
    "summary",
    "history",
    "members",
    "invite",
    "leave",
    "bot",
    "usage",
    "attach",
    "stop",
    "regenerate",
}

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


class ChatClient:
    def __init__(self, api: Api, ws_url: str, screen: Screen):
        self.session = Session(api, screen)
        self.api, self.screen = api, screen
        self.conversation = Conversation(self.session)
        self.answers = BotAnswers(self.session)
        self.bots = Bots(self.session)
        self.search = Search(
            self.session,
            refresh_rooms=self.refresh_rooms,
            find_room=self.find_room,
            open_room=self.open,
            show_message=self.show_message,
        )
        self.ws_url = ws_url
        self.rooms: list[dict[str, Any]] = []
        self.closing = False
        self.typing: dict[tuple[str, str], float] = {}

    def show_message(self, message: dict[str, Any], *, live: bool = False) -> None:
        if self.answers.streams(message, live=live):
            return  # shown as it streams (bot_stream frames)
        session, conversation = self.session, self.conversation
        status = (
            "" if message.get("status", "complete") == "complete" else f" ({message['status']})"
        )
        number, reply = conversation.remember(message), conversation.reply_marker(message)
        session.screen.line(
            f"{session.room_tag(message['room_id'])}{number}{session.screen.paint(clock(message.get('created_at')), '2')} "
            f"{reply}{session.who(message['username'], message.get('is_bot', False))}: "
            f"{conversation.shown_text(message)}{status}{conversation.decorations(message)}"
        )
        for attachment in message.get("attachments") or []:
            session.note(
                f"📎 {attachment['filename']} ({attachment['content_type']}, "
                f"{file_size(attachment['size'])}) {attachment['url']}"
            )
        if message.get("is_bot") and not message.get("deleted"):
            for note in tool_notes(message):
                session.note(note)

    # ------------------------------------------------------------------ WebSocket
    def connect(self) -> None:
        url = f"{self.ws_url}{'&' if '?' in self.ws_url else '?'}token={self.api.token}"
        socket = connect(url, open_timeout=15, close_timeout=2, legacy=True)
        self.session.socket = socket
        threading.Thread(target=self._receive, args=(socket,), daemon=True).start()

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
        if not self.closing and socket is self.session.socket:
            self._reconnect()

    def _reconnect(self) -> None:
        for attempt in range(1, 6):
            self.session.note(f"connection lost; reconnecting ({attempt}/5) …")
            time.sleep(min(2**attempt, 15))
            try:
                self.connect()
            except (OSError, InvalidStatus, TimeoutError):
                continue
            if self.session.current:
                room_id = self.session.current["room_id"]
                self.session.send(type="join", room_id=room_id)
                self.answers.resume(room_id)
            return
        self.session.note("could not reconnect: restart the client")

    def keepalive(self) -> None:
        while not self.closing:
            time.sleep(KEEPALIVE_SECONDS)
            with contextlib.suppress(Exception):
                self.session.send(type="ping")

    def on_frame(self, frame: dict[str, Any]) -> None:
        kind = frame.get("type")
        room_id = frame.get("room_id", "")
        session = self.session
        if self.conversation.on_frame(frame):
            return
        if kind == "message":
            self.show_message(frame, live=True)
        elif kind == "bot_stream":
            self.answers.on_stream(frame)
        elif kind == "bot_error":
            self.answers.on_error(frame)
        elif kind == "typing":
            key = (room_id, frame.get("username", ""))
            if frame.get("is_typing") and frame.get("username") != session.username:
                if time.monotonic() - self.typing.get(key, 0) > 5:  # say it once, not per keystroke
                    session.note(f"{session.room_tag(room_id)}{frame['username']} is typing …")
                self.typing[key] = time.monotonic()
            else:
                self.typing.pop(key, None)
        elif kind == "presence":
            session.note(
                f"{session.room_tag(room_id)}{frame.get('username')} is {frame.get('status')}"
            )
        elif kind == "joined":
            online = ", ".join(frame.get("online") or []) or "nobody"
            session.note(f"{session.room_tag(room_id)}online: {online}")
        elif kind == "error":
            session.screen.line(
                session.screen.paint(f"  ! {frame.get('message')} ({frame.get('code')})", "31")
            )
        elif kind is None and "message" in frame and "connectionId" in frame:
            # API Gateway's own error frame (the function failed or timed out)
            session.screen.line(session.screen.paint(f"  ! gateway: {frame['message']}", "31"))

    # ------------------------------------------------------------------ rooms
    def refresh_rooms(self) -> None:
        self.rooms = self.api.call("GET", "/rooms")["rooms"]
        self.session.names.update({room["room_id"]: room["name"] for room in self.rooms})

    def list_rooms(self) -> None:
        self.refresh_rooms()
        if not self.rooms:
            self.session.note("no rooms yet: /create NAME, or /join CODE")
            return
        for index, room in enumerate(self.rooms, 1):
            marker = "*" if self.session.is_open(room["room_id"]) else " "
            last = clock(room["last_message_at"]) if room.get("last_message_at") else "no messages"
            unread = room.get("unread_count") or 0
            news = self.screen.paint(f" {unread}{'+' if unread >= 100 else ''} unread", "33;1")
            mentions = room.get("mention_count") or 0
            named = self.screen.paint(f" @{mentions}{'+' if mentions >= 100 else ''}", "31;1")
            self.session.note(
                f"{marker}{index:>2}. {room['name']:<24} code {room['code']:<12} {last}"
                + (news if unread else "")
                + (named if mentions else "")
            )

    def open(self, room: dict[str, Any], history: int = 20) -> None:
        session = self.session
        if session.current and not session.is_open(room["room_id"]):
            with contextlib.suppress(Exception):
                session.send(type="leave", room_id=session.current["room_id"])
        session.enter(room)
        session.note(f"— {room['name']} (code {room['code']}) —")
        self.conversation.forget_numbers()
        if history:
            self.history(history)
        session.send(type="join", room_id=room["room_id"])

    def find_room(self, key: str) -> dict[str, Any] | None:
        self.refresh_rooms()
        if key.isdigit() and 1 <= int(key) <= len(self.rooms):
            return self.rooms[int(key) - 1]
        for room in self.rooms:
            if key in (room["room_id"], room["code"]) or room["name"].lower() == key.lower():
                return room
        return None

    def history(self, limit: int) -> None:
        room_id = self._open_room_id()
        page = self.api.call("GET", f"/rooms/{room_id}/messages", limit=limit)
        if not page["messages"]:
            self.session.note("no messages yet")
        for message in page["messages"]:
            self.answers.forget(message["message_id"])
            self.show_message(message)
        if page["messages"]:
            self.conversation.mark_read_soon(page["messages"][-1]["message_id"])

    def members(self) -> None:
        room_id = self._open_room_id()
        for member in self.api.call("GET", f"/rooms/{room_id}/members")["members"]:
            state = self.screen.paint("online", "32") if member["online"] else "offline"
            self.session.note(f"{member['username']:<20} {member['role']:<7} {state}")

    def invite(self, username: str) -> None:
        self.api.call("POST", f"/rooms/{self._open_room_id()}/invite", {"username": username})
        self.session.note(f"{username} is now a member")

    def leave(self) -> None:
        assert self.session.current is not None
        self.api.call("DELETE", f"/rooms/{self._open_room_id()}/members/me")
        self.session.note(f"you left {self.session.current['name']}")
        self.session.enter(None)

    def _open_room_id(self) -> str:
        assert self.session.current is not None  # checked by command()
        return str(self.session.current["room_id"])

    # ------------------------------------------------------------------ commands
    def command(self, line: str) -> bool:
        """Run a /command; False to quit."""
        name, _, argument = line[1:].partition(" ")
        argument = argument.strip()
        if name in ("quit", "exit", "q"):
            return False
        if name == "logout":
            self.logout()
            return False
        if name in ROOM_COMMANDS and self.session.current is None:
            self.session.note("open a room first: /rooms, /open N")
        elif not (
            self._room_command(name, argument)
            or self.conversation.command(name, argument)
            or self.bots.command(name, argument)
            or self.search.command(name, argument)
        ):
            self.session.note(f"unknown or incomplete command /{name}: /help")
        return True

    def _room_command(self, name: str, argument: str) -> bool:
        """Run a command of the rooms, the bot or files; False if `name` (with `argument`)
        is not one."""
        if name in ("create", "join", "open", "invite", "attach") and not argument:
            return False
        if name == "help":
            self.session.note(HELP.replace("\n", "\n  "))
        elif name in ("rooms", "unread"):
            self.list_rooms()
        elif name == "create":
            self.open(self.api.call("POST", "/rooms", {"name": argument}))
            self.session.note("invite people with /invite USERNAME, or give them the code")
        elif name == "join":
            self.open(self.api.call("POST", "/rooms/join", {"code": argument}))
        elif name == "open":
            room = self.find_room(argument)
            if room is None:
                self.session.note(f"no room {argument!r}: /rooms lists yours")
            else:
                self.open(room)
        elif name == "history":
            self.history(int(argument) if argument.isdigit() else 50)
        elif name == "members":
            self.members()
        elif name == "invite":
            self.invite(argument)
        elif name == "leave":
            self.leave()
        elif name == "bot":
            self.bot_settings(argument)
        elif name == "usage":
            self.usage(argument)
        elif name == "attach":
            self.attach(argument)
        elif name == "stop":
            self.answers.stop(self._open_room_id(), argument)
        elif name == "regenerate":
            self.answers.regenerate(self._open_room_id(), argument)
        else:
            return False
        return True

    def logout(self) -> None:
        """/logout: the server revokes this session's token (and closes its socket)."""
        self.closing = True  # the socket's close is expected: no reconnecting
        try:
            self.api.call("POST", "/auth/logout")
        except ApiError as exc:  # revoked or expired already: signed out all the same
            self.session.note(f"the server says: {exc.message}")
        self.session.note("signed out; this session's token no longer works")

    def bot_settings(self, argument: str) -> None:
        path = f"/rooms/{self._open_room_id()}/bot"
        field, _, value = argument.partition(" ")
        if field:
            body = settings_change(field, value.strip())
            if body is None:
                self.session.note(
                    "usage: /bot key KEY | /bot key none | /bot model NAME | /bot prompt TEXT"
                    " | /bot tools room_search,web_search | /bot tools none"
                    " | /bot budget TOKENS | /bot budget none | /bot replies on|off"
                )
                return
            settings = self.api.call("PUT", path, body)
        else:
            settings = self.api.call("GET", path)
        budget = settings.get("monthly_token_budget")
        self.session.note(
            f"model {settings['model']}, own API key: {'yes' if settings['has_api_key'] else 'no'}, "
            f"system prompt: {settings.get('system_prompt') or '(default)'}, "
            f"tools: {', '.join(settings.get('tools') or []) or 'none'}, "
            f"monthly token budget: {'none' if budget is None else budget}"
        )

    def usage(self, month: str) -> None:
        """/usage [YYYY-MM]: each bot's answers and tokens in the month (default: this one)."""
        params = {"month": month} if month else {}
        report = self.api.call("GET", f"/rooms/{self._open_room_id()}/usage", **params)
        self.session.note(f"bot usage in {report['month']} (UTC):")
        for bot in report["bots"]:
            self.session.note(
                f"  {bot['name']}: {bot['answers']} answers, {bot['input_tokens']} input "
                f"+ {bot['output_tokens']} output tokens"
            )

    def attach(self, argument: str) -> None:
        """/attach PATH [text]: declare the file, upload it with the presigned POST, send it."""
        room_id = self._open_room_id()
        path_text, _, text = argument.partition(" ")
        path = Path(path_text).expanduser()
        if not path.is_file():
            self.session.note(f"no file {path_text!r}")
            return
        content_type = _TYPES.get(path.suffix.lower())
        if content_type is None:
            self.session.note("only PNG, JPEG, WEBP, GIF, PDF, .txt and .md files can be attached")
            return
        data = path.read_bytes()
        declared = self.api.call(
            "POST",
            f"/rooms/{room_id}/attachments",
            {"filename": path.name, "content_type": content_type, "size": len(data)},
        )
        form = declared["upload"]
        try:
            uploaded = httpx.post(
                form["url"], data=form["fields"], files={"file": (path.name, data)}, timeout=60
            )
        except httpx.HTTPError as exc:
            self.session.note(f"upload failed: {exc}")
            return
        if uploaded.status_code >= 300:
            self.session.note(
                f"upload refused by storage ({uploaded.status_code}): {uploaded.text[:200]}"
            )
            return
        # Over REST: it answers once the message is stored (the WebSocket then shows it).
        self.api.call(
            "POST",
            f"/rooms/{room_id}/messages",
            {"content": text.strip(), "attachments": [declared["attachment_id"]]},
        )

    # ------------------------------------------------------------------ session
    def run(self) -> None:
        self.connect()
        threading.Thread(target=self.keepalive, daemon=True).start()
        self.screen.prompt = "> "
        self.session.note(f"signed in as {self.session.username}. /help for commands.")
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
                    self.screen.erase_typed_line()
                    self.session.say(line)
            except ApiError as exc:
                self.screen.line(self.screen.paint(f"  ! {exc.message} ({exc.code})", "31"))
            except (ConnectionError, ConnectionClosed) as exc:
                self.screen.line(self.screen.paint(f"  ! not connected: {exc}", "31"))

    def close(self) -> None:
        self.closing = True
        if self.session.socket is not None:
            with contextlib.suppress(Exception):
                self.session.socket.close()
