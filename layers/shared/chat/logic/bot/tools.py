"""The tools of one answer (docs/bot.md, Tools): what the model is offered, the room searches
it asks for, and what the answer records of them.

- ``room_search`` is a function the model may call (Gemini function calling): the worker
  runs the room's search (chat.logic.search.service.search_room) as the bot sees the room:
  messages stored before the command, never deleted ones, and never private ones but the
  command's own author's when the command itself is private (its ``visible_to``). The
  results go back to the model as the call's ``functionResponse``, and the model answers,
  or searches again: at most ``MAX_SEARCHES`` times per answer; after that it is told to
  answer (function calling mode ``NONE``), and a call past the limit gets an error result.
- ``web_search`` is Gemini's Google Search grounding: the model searches by itself; the
  queries it ran and the pages its answer cites come back with the answer.

Each room search and each web query becomes a ``tool_call`` of the answer, each cited page a
``source``, as long as they fit ``max_bytes`` (as JSON, in the answer's final frame).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from chat.adapters import gemini
from chat.dal.items import MessageItem
from chat.errors import ValidationFailed
from chat.logic.bot.transcript import Transcript
from chat.logic.search.service import search_room
from chat.models import Message, Source, Tool, ToolCall

MAX_SEARCHES = 3  # room searches per answer
MAX_ROUNDS = MAX_SEARCHES + 2  # model requests per answer (a last one to answer after them)
RESULTS_PER_SEARCH = 10
RESULT_CHARS = 500  # of each message found, what the model reads
QUERY_CHARS = 200
MAX_SOURCES = 10
TITLE_CHARS = 200
URL_CHARS = 2048

ROOM_SEARCH = gemini.FunctionSpec(
    name="room_search",
    description=(
        "Search this chat room's whole history, older than the conversation you were given. "
        "Returns the messages that contain every word of the query (the last word also as a "
        "prefix), newest first, with their id, author, time and text. Use it when the "
        "request needs something said earlier in the room."
    ),
    parameters={
        "type": "object",
        "properties": {
            "query": {
                "type": "string",
                "description": "A few words the messages must contain, e.g. 'deploy friday'.",
            }
        },
        "required": ["query"],
    },
)


class ToolRun:
    """The tools of one answer: what the model is offered each round, and what it used."""

    def __init__(
        self,
        tools: Sequence[Tool],
        command: MessageItem,
        transcript: Transcript,
        max_bytes: int,
    ):
        self.room_search = "room_search" in tools
        self.web_search = "web_search" in tools
        self.command = command
        self.transcript = transcript  # where the tool calls and sources are recorded
        self.max_bytes = max_bytes
        self.searches = 0
        self._web_queries: set[str] = set()

    @property
    def enabled(self) -> bool:
        return self.room_search or self.web_search

    def offer(self) -> gemini.ToolOffer | None:
        """What the next request offers the model (None: no tools)."""
        if not self.enabled:
            return None
        functions = (ROOM_SEARCH,) if self.room_search else ()
        return gemini.ToolOffer(
            functions=functions,
            web_search=self.web_search,
            may_call=self.searches < MAX_SEARCHES,
        )

    def after(self, stream: gemini.AnswerStream) -> gemini.Exchange | None:
        """Record what a finished round used; run the searches it asked for. The exchange
        to send the model next, or None when the round answered."""
        for query in stream.web_queries:
            if query not in self._web_queries:
                self._web_queries.add(query)
                self._record(ToolCall(tool="web_search", query=query[:QUERY_CHARS]))
        for source in stream.sources:
            self._cite(source)
        if not stream.function_calls:
            return None
        return stream.exchange([(call, self._call(call)) for call in stream.function_calls])

    def _call(self, call: gemini.FunctionCall) -> dict[str, Any]:
        """One function call's result: ``{"output": ...}`` or ``{"error": ...}``."""
        if call.name != ROOM_SEARCH.name or not self.room_search:
            return {"error": f"There is no function named {call.name!r}."}
        if self.searches >= MAX_SEARCHES:
            return {"error": "No more searches for this answer: answer with what you found."}
        self.searches += 1
        query = " ".join(str(call.args.get("query") or "").split())[:QUERY_CHARS]
        self._record(ToolCall(tool="room_search", query=query))
        try:
            found = search_room(
                self.command["room_id"],
                query,
                self.command.get("visible_to"),
                limit=RESULTS_PER_SEARCH,
                before=self.command["message_id"],
            )
        except ValidationFailed:
            return {"error": "The query must contain at least one letter or digit."}
        messages = [_found(message) for message in found.results]
        return {"output": {"messages": messages, "more": found.next_before is not None}}

    def _record(self, call: ToolCall) -> None:
        if self._fits(call.model_dump()):
            self.transcript.tool_calls.append(call)

    def _cite(self, page: gemini.Source) -> None:
        source = Source(title=page.title[:TITLE_CHARS], url=page.url)
        known = {cited.url for cited in self.transcript.sources}
        if (
            len(page.url) <= URL_CHARS
            and source.url not in known
            and len(self.transcript.sources) < MAX_SOURCES
            and self._fits(source.model_dump())
        ):
            self.transcript.sources.append(source)

    def _fits(self, item: dict[str, Any]) -> bool:
        recorded = [
            *(call.model_dump() for call in self.transcript.tool_calls),
            *(source.model_dump() for source in self.transcript.sources),
            item,
        ]
        return len(json.dumps(recorded)) <= self.max_bytes


def _found(message: Message) -> dict[str, Any]:
    content = message.content
    if len(content) > RESULT_CHARS:
        content = content[: RESULT_CHARS - 1] + "…"
    return {
        "message_id": message.message_id,
        "username": message.username,
        "created_at": message.created_at,
        "content": content,
    }
