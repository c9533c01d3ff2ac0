"""The conversation features: replies, edits, deletions, reactions, read state, mentions and
the owner's moderation commands, and how their frames are shown.

Messages of the open room are numbered as they are shown (`#3`), so commands can name them;
without a number, a command means your last message (`/edit`, `/delete`) or the room's last
message (`/react`, `/reply`).
"""

from __future__ import annotations

import contextlib
import re
import threading
from typing import Any
from urllib.parse import quote

from terminal.session import Session

HELP = """\
  /reply [N] TEXT        reply to message N    /edit [N] TEXT     edit your last (or Nth) message
  /delete [N]            delete your last (or Nth) message (the owner: anyone's)
  /react [N] EMOJI       react (again: undo)   /unread            unread counts of your rooms
  owner: /rename NAME  /remove USERNAME  /newcode (a new join code; the old one stops working)"""

COMMANDS = {"reply", "edit", "delete", "react", "rename", "remove", "newcode"}
_NAME = "A-Za-z0-9_.-"  # a username's characters: what ends an @mention


class Conversation:
    def __init__(self, session: Session):
        self.session = session
        self.numbered: list[dict[str, Any]] = []  # the open room's messages, as shown
        self.number_of: dict[str, int] = {}  # message id -> its number

    # ------------------------------------------------------------------ display
    def forget_numbers(self) -> None:
        self.numbered.clear()
        self.number_of.clear()

    def remember(self, message: dict[str, Any]) -> str:
        """Number a message of the open room (once); the `#N ` to show before it."""
        if not self.session.is_open(message.get("room_id", "")):
            return ""
        number = self.number_of.get(message["message_id"])
        if number is None:
            self.numbered.append(message)
            number = self.number_of[message["message_id"]] = len(self.numbered)
        else:
            self.numbered[number - 1] = message
        return self.session.screen.paint(f"#{number} ", "2")

    def reply_marker(self, message: dict[str, Any]) -> str:
        reply_to = message.get("reply_to")
        if not reply_to or message.get("is_bot"):
            return ""
        number = self.number_of.get(reply_to)
        return self.session.screen.paint(f"↪ #{number} " if number else "↪ ", "2")

    def decorations(self, message: dict[str, Any]) -> str:
        """What follows a message's text: (edited), its reactions."""
        parts = []
        if message.get("edited_at"):
            parts.append(self.session.screen.paint("(edited)", "2"))
        if message.get("visible_to"):
            parts.append(self.session.screen.paint("(private: only you see it)", "2"))
        reactions = " ".join(f"{r['emoji']} {r['count']}" for r in message.get("reactions") or [])
        if reactions:
            parts.append(self.session.screen.paint(f"[{reactions}]", "33"))
        return (" " + " ".join(parts)) if parts else ""

    def shown_text(self, message: dict[str, Any]) -> str:
        if message.get("deleted"):
            return self.session.screen.paint("(deleted)", "2")
        return self.with_mentions(message["content"], message.get("mentions") or [])

    def with_mentions(self, text: str, mentions: list[str]) -> str:
        """The text with the `@name`s it mentions marked: yours stand out (reverse video, or
        `>>@you<<` without colour), the others' in bold."""
        if not mentions:
            return text
        me = self.session.username.lower()
        pattern = re.compile(
            rf"(?<![{_NAME}])@({'|'.join(map(re.escape, mentions))})(?![{_NAME}])", re.IGNORECASE
        )

        def mark(match: re.Match[str]) -> str:
            if match.group(1).lower() != me:
                return self.session.screen.paint(match.group(0), "1")
            if not self.session.screen.colour:
                return f">>{match.group(0)}<<"
            return self.session.screen.paint(match.group(0), "1;7;33")

        return pattern.sub(mark, text)

    def _label(self, room_id: str, message_id: str) -> str:
        number = self.number_of.get(message_id)
        if self.session.is_open(room_id) and number:
            return f"#{number}"
        return "a message"

    # ------------------------------------------------------------------ frames
    def on_frame(self, frame: dict[str, Any]) -> bool:
        """Show a conversation frame; False if it is not one (the caller handles it)."""
        kind = frame.get("type")
        room_id = frame.get("room_id", "")
        tag = self.session.room_tag(room_id)
        if kind == "message_updated":
            label = self._label(room_id, frame["message_id"])
            self.remember(frame)
            self.session.note(f"{tag}{frame['username']} edited {label}: {frame['content']}")
        elif kind == "message_deleted":
            self.session.note(f"{tag}{self._label(room_id, frame['message_id'])} was deleted")
        elif kind == "reaction":
            verb = "reacted" if frame["added"] else "took back"
            label = self._label(room_id, frame["message_id"])
            self.session.note(
                f"{tag}{frame['username']} {verb} {frame['emoji']} on {label} ({frame['count']})"
            )
        elif kind == "read":
            pass  # quiet: /members shows who read what
        elif kind == "mention":
            if not self.session.is_open(room_id):  # the open room shows the message itself
                text = self.with_mentions(frame["content"], [self.session.username])
                self.session.note(f"{tag}{frame['username']} mentioned you: {text}")
        elif kind == "room_updated":
            if "name" in frame:
                self.session.names[room_id] = frame["name"]
                if self.session.current and self.session.is_open(room_id):
                    self.session.current["name"] = frame["name"]
                    self.session.enter(self.session.current)
                self.session.note(f"{tag}the room is now called {frame['name']}")
            if "owner" in frame:
                self.session.note(f"{tag}{frame['owner']} now owns the room")
        elif kind == "removed":
            name = self.session.names.get(room_id, room_id)
            self.session.note(f"you were removed from {name}")
            if self.session.is_open(room_id):
                self.session.enter(None)
        else:
            if kind == "message" and self.session.is_open(room_id):
                self.mark_read_soon(frame["message_id"])
            return False
        return True

    def mark_read_soon(self, message_id: str) -> None:
        """Mark the open room read up to a message, off the receiving thread."""
        if not self.session.current:
            return
        room_id = self.session.current["room_id"]
        threading.Thread(target=self._mark_read, args=(room_id, message_id), daemon=True).start()

    def _mark_read(self, room_id: str, message_id: str) -> None:
        # best effort: the next message marks it again
        with contextlib.suppress(Exception):
            self.session.api.call("PUT", f"/rooms/{room_id}/read", {"message_id": message_id})

    # ------------------------------------------------------------------ commands
    def _target(self, argument: str, *, own: bool) -> tuple[dict[str, Any] | None, str]:
        """The message a command names (`N rest` or just `rest`) and the rest of the line."""
        head, _, rest = argument.partition(" ")
        if head.lstrip("#").isdigit():
            number = int(head.lstrip("#"))
            if 1 <= number <= len(self.numbered):
                return self.numbered[number - 1], rest.strip()
            self.session.note(f"no message #{number} here: /history shows them numbered")
            return None, ""
        candidates = [
            m
            for m in reversed(self.numbered)
            if not m.get("deleted") and (not own or m["username"] == self.session.username)
        ]
        if not candidates:
            self.session.note("no such message yet")
            return None, ""
        return candidates[0], argument

    def command(self, name: str, argument: str) -> bool:
        """Run a conversation command; False if `name` is not one."""
        if name not in COMMANDS:
            return False
        if self.session.current is None:
            self.session.note("open a room first: /rooms, /open N")
            return True
        room_id = self.session.current["room_id"]
        messages = f"/rooms/{room_id}/messages"
        if name == "reply":
            target, text = self._target(argument, own=False)
            if target and text:
                self.session.say(text, reply_to=target["message_id"])
        elif name == "edit":
            target, text = self._target(argument, own=True)
            if target and text:
                edited = self.session.api.call(
                    "PATCH", f"{messages}/{target['message_id']}", {"content": text}
                )
                self.remember(edited)
        elif name == "delete":
            target, _ = self._target(argument, own=True)
            if target:
                self.session.api.call("DELETE", f"{messages}/{target['message_id']}")
        elif name == "react":
            target, emoji = self._target(argument, own=False)
            if target and emoji:
                mine = any(
                    r["emoji"] == emoji and self.session.username in r["usernames"]
                    for r in target.get("reactions") or []
                )
                path = f"{messages}/{target['message_id']}/reactions/{quote(emoji, safe='')}"
                result = self.session.api.call("DELETE" if mine else "PUT", path)
                self.remember({**target, "reactions": result["reactions"]})
        elif name == "rename" and argument:
            self.session.api.call("PATCH", f"/rooms/{room_id}", {"name": argument})
        elif name == "remove" and argument:
            self.session.api.call("DELETE", f"/rooms/{room_id}/members/{quote(argument, safe='')}")
            self.session.note(f"{argument} was removed")
        elif name == "newcode":
            room = self.session.api.call("POST", f"/rooms/{room_id}/code")
            self.session.current["code"] = room["code"]
            self.session.note(f"the join code is now {room['code']}; the old one no longer works")
        else:
            self.session.note(f"incomplete command /{name}: /help")
        return True
