"""The terminal client's search (`make chat`): `/search` across your rooms or in the open one,
`/more` for the next page, `/goto N` to open a result's room at it.

Results are numbered and printed with their room, author, time and the words found marked.
Marking follows the server's tokenizer (chat/logic/search/terms.py) closely enough to show
what matched: words are runs of letters and digits, compared case- and accent-insensitively,
each CJK character a word of its own. The server decides what is a result.
"""

from __future__ import annotations

import re
import unicodedata
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from local.chat import Api, Screen

HELP = """\
  /search WORDS          find messages in all your rooms (the last word may be cut short)
  /search here WORDS     … in the open room    /more    the next results   /goto N   open result N"""

PAGE = 10
_WORD = re.compile(r"[^\W_]+")
_SINGLE = re.compile(
    "[\u3040-\u30ff\u31f0-\u31ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\U00020000-\U0003134f]"
)


def normalize(word: str) -> str:
    """A word as the server compares it: case-folded, without accents."""
    decomposed = unicodedata.normalize("NFKD", word.casefold())
    stripped = "".join(char for char in decomposed if unicodedata.category(char) != "Mn")
    return unicodedata.normalize("NFC", stripped)


def words(text: str) -> list[tuple[int, int, str]]:
    """(start, end, normalized word) of every word of a text."""
    found = []
    for match in _WORD.finditer(text):
        start = match.start()
        for piece in re.finditer(f"{_SINGLE.pattern}|(?:(?!{_SINGLE.pattern}).)+", match.group()):
            term = normalize(piece.group())
            if term:
                found.append((start + piece.start(), start + piece.end(), term))
    return found


def marked(text: str, query: str, mark: Any) -> str:
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
    """Search commands; needs ChatClient's attributes."""

    api: Api
    screen: Screen
    current: dict[str, Any] | None
    names: dict[str, str]

    # ChatClient's, used here
    def note(self, text: str) -> None: ...
    def who(self, username: str, is_bot: bool = False) -> str: ...
    def refresh_rooms(self) -> None: ...
    def find_room(self, key: str) -> dict[str, Any] | None: ...
    def open(self, room: dict[str, Any], history: int = 20) -> None: ...
    def show_message(self, message: dict[str, Any], *, live: bool = False) -> None: ...

    def init_search(self) -> None:
        self.found: list[dict[str, Any]] = []
        self.search_params: dict[str, Any] = {}
        self.search_next: str | None = None

    def search_command(self, name: str, argument: str) -> bool:
        """Run /search, /more or /goto; False when the command is not one of them."""
        if name == "search" and argument:
            here, _, rest = argument.partition(" ")
            params: dict[str, Any] = {"q": argument, "limit": PAGE}
            if here == "here" and rest.strip():
                if self.current is None:
                    self.note("open a room first, or /search WORDS in all your rooms")
                    return True
                params = {"q": rest.strip(), "limit": PAGE, "room_id": self.current["room_id"]}
            self.found, self.search_params = [], params
            self._search_page(None)
        elif name == "more":
            if not self.search_next:
                self.note("no more results" if self.search_params else "/search WORDS first")
            else:
                self._search_page(self.search_next)
        elif name == "goto" and argument.isdigit():
            self.goto(int(argument))
        else:
            return False
        return True

    def _search_page(self, before: str | None) -> None:
        params = {**self.search_params, **({"before": before} if before else {})}
        page = self.api.call("GET", "/search", **params)
        if not self.names:
            self.refresh_rooms()
        query = str(self.search_params["q"])
        for message in page["results"]:
            self.found.append(message)
            room = self.names.get(message["room_id"], message["room_id"][:8])
            when = str(message.get("created_at", ""))[:16].replace("T", " ")
            text = " ".join(str(message["content"]).split())
            text = marked(text, query, self._mark)
            self.screen.line(
                f"{self.screen.paint(f'{len(self.found):>3}.', '2')} "
                f"{self.screen.paint(f'[{room}]', '2')} {self.screen.paint(when, '2')} "
                f"{self.who(message['username'], message.get('is_bot', False))}: {text}"
            )
        self.search_next = page.get("next_before")
        if not self.found:
            self.note("no messages found")
        elif self.search_next:
            self.note("/more for more, /goto N to open a result in its room")
        else:
            self.note("/goto N to open a result in its room")

    def _mark(self, word: str) -> str:
        return self.screen.paint(word, "7") if self.screen.colour else f"*{word}*"

    def goto(self, number: int) -> None:
        """Open a result's room and show the messages up to it."""
        if not 1 <= number <= len(self.found):
            self.note(f"no result {number}: /search first")
            return
        message = self.found[number - 1]
        room = self.find_room(message["room_id"])
        if room is None:
            self.note("you are no longer in that room")
            return
        self.open(room, history=0)
        page = self.api.call(
            "GET", f"/rooms/{room['room_id']}/messages", limit=9, before=message["message_id"]
        )
        for earlier in page["messages"]:
            self.show_message(earlier)
        self.show_message(message)
