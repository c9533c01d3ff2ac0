"""Search: `/search` across your rooms or in the open one, `/more` for the next page, `/goto N`
to open a result's room at it.

Results are numbered and printed with their room, author, time and the words found marked.
Marking follows the server's tokenizer (chat/logic/search/terms.py) closely enough to show
what matched: words are runs of letters and digits, compared case- and accent-insensitively,
each CJK character a word of its own. The server decides what is a result.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable
from typing import Any

from terminal.session import Session

HELP = """\
  /search WORDS          find messages in all your rooms (the last word may be cut short)
  /search here WORDS     … in the open room    /more    the next results   /goto N   open result N"""

COMMANDS = {"search", "more", "goto"}
PAGE = 10
_WORD = re.compile(r"[^\W_]+")
_SINGLE = "[\u3040-\u30ff\u31f0-\u31ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\U00020000-\U0003134f]"
_PIECE = re.compile(f"{_SINGLE}|(?:(?!{_SINGLE}).)+")


def normalize(word: str) -> str:
    """A word as the server compares it: case-folded, without accents."""
    decomposed = unicodedata.normalize("NFKD", word.casefold())
    stripped = "".join(char for char in decomposed if unicodedata.category(char) != "Mn")
    return unicodedata.normalize("NFC", stripped)


def words(text: str) -> list[tuple[int, int, str]]:
    """(start, end, normalized word) of every word of a text."""
    found = []
    for match in _WORD.finditer(text):
        for piece in _PIECE.finditer(match.group()):
            term = normalize(piece.group())
            if term:
                found.append((match.start() + piece.start(), match.start() + piece.end(), term))
    return found


def marked(text: str, query: str, mark: Callable[[str], str]) -> str:
    """The text with every word the query found passed through `mark`."""
    terms = [term for _, _, term in words(query)]
    if not terms:
        return text
    prefix, exact = terms[-1], set(terms[:-1])
    out, at = [], 0
    for start, end, term in words(text):
        if term in exact or term.startswith(prefix):
            out += [text[at:start], mark(text[start:end])]
            at = end
    return "".join(out) + text[at:]


class Search:
    def __init__(
        self,
        session: Session,
        *,
        refresh_rooms: Callable[[], None],
        find_room: Callable[[str], dict[str, Any] | None],
        open_room: Callable[[dict[str, Any], int], None],
        show_message: Callable[[dict[str, Any]], None],
    ):
        self.session = session
        self.refresh_rooms, self.find_room = refresh_rooms, find_room
        self.open_room, self.show_message = open_room, show_message
        self.found: list[dict[str, Any]] = []
        self.params: dict[str, Any] = {}
        self.next_before: str | None = None

    def command(self, name: str, argument: str) -> bool:
        """Run /search, /more or /goto; False when the command is not one of them."""
        if name == "search" and argument:
            here, _, rest = argument.partition(" ")
            params: dict[str, Any] = {"q": argument, "limit": PAGE}
            if here == "here" and rest.strip():
                if self.session.current is None:
                    self.session.note("open a room first, or /search WORDS in all your rooms")
                    return True
                params = {
                    "q": rest.strip(),
                    "limit": PAGE,
                    "room_id": self.session.current["room_id"],
                }
            self.found, self.params = [], params
            self._page(None)
        elif name == "more":
            if not self.next_before:
                self.session.note("no more results" if self.params else "/search WORDS first")
            else:
                self._page(self.next_before)
        elif name == "goto" and argument.isdigit():
            self.goto(int(argument))
        else:
            return False
        return True

    def _page(self, before: str | None) -> None:
        session = self.session
        page = session.api.call(
            "GET", "/search", **self.params, **({"before": before} if before else {})
        )
        if not session.names:
            self.refresh_rooms()  # the rooms' names
        query = str(self.params["q"])
        for message in page["results"]:
            self.found.append(message)
            room = session.names.get(message["room_id"], message["room_id"][:8])
            when = str(message.get("created_at", ""))[:16].replace("T", " ")
            text = marked(" ".join(str(message["content"]).split()), query, self._mark)
            session.screen.line(
                f"{session.screen.paint(f'{len(self.found):>3}.', '2')} "
                f"{session.screen.paint(f'[{room}]', '2')} {session.screen.paint(when, '2')} "
                f"{session.who(message['username'], message.get('is_bot', False))}: {text}"
            )
        self.next_before = page.get("next_before")
        if not self.found:
            session.note("no messages found")
        elif self.next_before:
            session.note("/more for more, /goto N to open a result in its room")
        else:
            session.note("/goto N to open a result in its room")

    def _mark(self, word: str) -> str:
        screen = self.session.screen
        return screen.paint(word, "7") if screen.colour else f"*{word}*"

    def goto(self, number: int) -> None:
        """Open a result's room and show the messages up to it."""
        if not 1 <= number <= len(self.found):
            self.session.note(f"no result {number}: /search first")
            return
        message = self.found[number - 1]
        room = self.find_room(message["room_id"])
        if room is None:
            self.session.note("you are no longer in that room")
            return
        self.open_room(room, 0)
        page = self.session.api.call(
            "GET", f"/rooms/{room['room_id']}/messages", limit=9, before=message["message_id"]
        )
        for earlier in page["messages"]:
            self.show_message(earlier)
        self.show_message(message)
