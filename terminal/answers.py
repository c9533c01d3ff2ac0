"""The bot's answers as they stream: each ``bot_stream`` frame adds what lies past the text
already shown (by its ``offset``), and after a reconnect an answer still being written is
picked up where its stored copy ends (API.md, "Resuming a stream after a reconnect")."""

from __future__ import annotations

import contextlib
import threading
import time
from typing import Any

from websockets.exceptions import ConnectionClosed

from terminal.api import ApiError
from terminal.session import Session

# A streaming answer's stored copy is at most this old (API.md): read after this long, it
# holds everything sent before the client (re)joined.
STORED_PREFIX_MAX_AGE = 2.0


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


TOOL_WORDS = {"room_search": "searched the room", "web_search": "searched the web"}


def tool_notes(answer: dict[str, Any]) -> list[str]:
    """What a bot answer (a message, or its final frame) used and cites: one line for its
    tool calls, one per source."""
    notes = []
    calls = answer.get("tool_calls") or []
    if calls:
        notes.append(
            "🔎 "
            + " · ".join(
                f"{TOOL_WORDS.get(call['tool'], call['tool'])} for “{call['query']}”"
                for call in calls
            )
        )
    for number, source in enumerate(answer.get("sources") or [], 1):
        notes.append(f"[{number}] {source['title']} {source['url']}")
    return notes


class BotAnswers:
    def __init__(self, session: Session):
        self.session = session
        self.streamed: dict[str, str] = {}  # bot message id -> text shown so far
        self.missed: dict[str, list[dict[str, Any]]] = {}  # frames past a gap, per answer
        self.answering: dict[str, str] = {}  # room id -> the bot answer being streamed
        self.last_answer: dict[str, str] = {}  # room id -> the bot's last answer
        self.authors: dict[str, str] = {}  # bot message id -> the bot's name

    def _header(self, room_id: str, message_id: str) -> str:
        return self.session.bot_header(room_id, self.authors.get(message_id, "bot"))

    def streams(self, message: dict[str, Any], *, live: bool) -> bool:
        """Whether a bot message is shown as it streams (by its frames), not as a line."""
        if not message.get("is_bot"):
            return False
        self.last_answer[message["room_id"]] = message["message_id"]
        self.authors[message["message_id"]] = message["username"]
        return message["message_id"] in self.streamed or (
            live and message.get("status") == "streaming"
        )

    def forget(self, message_id: str) -> None:
        """The message is shown again whole (the history): its stream starts over."""
        self.streamed.pop(message_id, None)

    # ------------------------------------------------------------------ frames
    def on_stream(self, frame: dict[str, Any]) -> None:
        """A ``bot_stream`` frame: print what it adds to the answer (by its offset)."""
        room_id, message_id = frame["room_id"], frame["message_id"]
        self.authors[message_id] = frame.get("username") or "bot"
        with self.session.screen.lock:
            if frame.get("is_complete"):
                self._end(room_id, message_id, frame)
                return
            self.answering[room_id] = message_id
            if message_id in self.missed:  # waiting for the stored copy
                self.missed[message_id].append(frame)
                return
            known = self.streamed.get(message_id, "")
            text = apply_frame(known, frame)
            if text is None:  # frames were missed (a reconnect): read the stored copy later
                self.missed[message_id] = [frame]
                threading.Thread(
                    target=self._catch_up, args=(room_id, message_id), daemon=True
                ).start()
                return
            self._show_more(room_id, message_id, known, text)

    def _end(self, room_id: str, message_id: str, frame: dict[str, Any]) -> None:
        screen = self.session.screen
        known = self.streamed.get(message_id, "")
        self.missed.pop(message_id, None)
        self.answering.pop(room_id, None)
        self.last_answer[room_id] = message_id
        full = frame.get("full_response") or ""
        if full.startswith(known) and len(full) > len(known):
            screen.stream(message_id, self._header(room_id, message_id), full[len(known) :])
        self.streamed[message_id] = full
        if frame.get("stopped"):
            screen.stream(
                message_id, self._header(room_id, message_id), screen.paint(" [stopped]", "2")
            )
        screen.end_stream(message_id)
        for note in tool_notes(frame):
            self.session.note(note)

    def on_error(self, frame: dict[str, Any]) -> None:
        session = self.session
        session.screen.line(
            f"{session.room_tag(frame.get('room_id', ''))}"
            f"{session.who(frame.get('username') or 'bot', True)}: "
            + session.screen.paint(f"[{frame.get('code')}] {frame.get('message')}", "31")
        )

    def _show_more(self, room_id: str, message_id: str, known: str, text: str) -> None:
        if len(text) > len(known):
            self.session.screen.stream(
                message_id, self._header(room_id, message_id), text[len(known) :]
            )
        self.streamed[message_id] = text

    # ------------------------------------------------------------------ after a gap
    def _catch_up(self, room_id: str, message_id: str) -> None:
        """After a gap: wait until the stored copy covers the missed frames, read it, and
        replay the frames that came since."""
        time.sleep(STORED_PREFIX_MAX_AGE)
        stored = self._stored(room_id, message_id)
        with self.session.screen.lock:
            frames = self.missed.pop(message_id, None)
            if frames is None:
                return  # the final frame came meanwhile
            known = self.streamed.get(message_id, "")
            text: str | None = stored if stored is not None and stored.startswith(known) else known
            for frame in frames:
                text = apply_frame(text, frame) if text is not None else None
            if text is None:
                self.session.note(
                    "part of the bot's answer was missed; /history shows it when done"
                )
                text = known
            self._show_more(room_id, message_id, known, text)

    def _stored(self, room_id: str, message_id: str) -> str | None:
        with contextlib.suppress(ApiError):
            page = self.session.api.call("GET", f"/rooms/{room_id}/messages", limit=50)
            for message in page["messages"]:
                if message["message_id"] == message_id:
                    return str(message["content"])
        return None

    def resume(self, room_id: str) -> None:
        """After a reconnect: pick up the answers still being written from their stored copy."""
        with contextlib.suppress(ApiError):
            page = self.session.api.call("GET", f"/rooms/{room_id}/messages", limit=20)
            for message in page["messages"]:
                if message.get("is_bot") and message.get("status") == "streaming":
                    with self.session.screen.lock:
                        known = self.streamed.get(message["message_id"], "")
                        stored = message["content"]
                        if stored.startswith(known):
                            self._show_more(room_id, message["message_id"], known, stored)

    # ------------------------------------------------------------------ commands
    def stop(self, room_id: str, argument: str) -> None:
        """/stop [ID]: the answer being written (or the one named)."""
        message_id = argument or self.answering.get(room_id)
        if not message_id:
            self.session.note("the bot is not answering right now")
            return
        try:
            self.session.send(type="bot_stop", room_id=room_id, message_id=message_id)
        except (ConnectionError, ConnectionClosed):
            self.session.api.call("POST", f"/rooms/{room_id}/messages/{message_id}/stop")

    def regenerate(self, room_id: str, argument: str) -> None:
        """/regenerate [ID]: another answer to the last one (or to the one named)."""
        message_id = argument or self.last_answer.get(room_id)
        if not message_id:
            self.session.note("no answer of the bot to regenerate yet")
            return
        self.session.api.call("POST", f"/rooms/{room_id}/messages/{message_id}/regenerate")
        self.session.note("asked the bot for another answer")
