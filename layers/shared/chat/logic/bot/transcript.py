"""The text of one bot answer as its room has seen it, and the answer's frames. Pure: no
I/O, so it is tested alone.

Every ``bot_stream`` frame carries ``seq`` (0, 1, 2 …) and ``offset`` (code points of the
answer before its chunk); the final frame has ``is_complete``, ``full_response``,
``stopped``, and the tools the answer used and the pages it cites (``tool_calls``,
``sources``), and is built here only. An answer is at most ``max_bytes`` as JSON
(ASCII-escaped, the largest encoding), so the final frame with its ``full_response`` stays
under the WebSocket frame limit: model text past the cap is cut (``truncated``).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from chat.dal.items import MessageItem
from chat.frames import BotErrorFrame, BotStreamFrame
from chat.logic.bot.coalesce import json_size, prefix_within
from chat.models import BOT_USERNAME, Message, Source, ToolCall


@dataclass
class Transcript:
    room_id: str
    message_id: str  # the bot reply
    reply_to: str  # the command
    # The cap on the model's text; 0 for a transcript that takes no more of it (a resumed
    # reply being ended, a reply stopped before it started).
    max_bytes: int = 0
    sent: list[str] = field(default_factory=list)  # the chunks the room was sent
    seq: int = 0  # the next frame's seq
    offset: int = 0  # code points sent so far: the next chunk's offset
    admitted_bytes: int = 0  # JSON size of the model text let in so far
    truncated: bool = False  # the model wrote more than the cap
    username: str = BOT_USERNAME  # the bot answering
    visible_to: str | None = None  # a private command's author: the only one sent frames
    tool_calls: list[ToolCall] = field(default_factory=list)  # the tools used so far
    sources: list[Source] = field(default_factory=list)  # the web pages cited so far

    @classmethod
    def of_reply(cls, reply: Message, max_bytes: int = 0) -> Transcript:
        """The transcript of a new reply, nothing sent yet."""
        return cls(
            reply.room_id,
            reply.message_id,
            reply.reply_to or "",
            max_bytes,
            username=reply.username,
            visible_to=reply.visible_to,
        )

    @classmethod
    def resumed(cls, reply: MessageItem) -> Transcript:
        """The transcript of a reply a dead run left streaming: what its last checkpoint
        stored, and the seq that checkpoint recorded."""
        content = reply.get("content") or ""
        return cls(
            reply["room_id"],
            reply["message_id"],
            reply.get("reply_to") or "",
            sent=[content],
            seq=int(reply.get("stream_seq") or 0),
            offset=len(content),
            username=reply["username"],
            visible_to=reply.get("visible_to"),
        )

    @property
    def text(self) -> str:
        """The answer as sent to the room so far."""
        return "".join(self.sent)

    def admit(self, piece: str) -> str:
        """The part of the model's ``piece`` within the size cap: all of it until the cap
        is reached, then what fits (split between code points), then nothing."""
        room = self.max_bytes - self.admitted_bytes
        size = json_size(piece)
        if size > room:
            piece = prefix_within(piece, room)
            size = json_size(piece)
            self.truncated = True
        self.admitted_bytes += size
        return piece

    def frame(self, chunk: str) -> BotStreamFrame:
        """The frame that sends ``chunk``, which is from then on part of the transcript."""
        frame = self._stream_frame(chunk)
        self.sent.append(chunk)
        self.seq += 1
        self.offset += len(chunk)
        return frame

    def final_frame(self, *, stopped: bool) -> BotStreamFrame:
        """The last frame of a complete or stopped answer: the whole text, once more."""
        return self._stream_frame(
            "",
            full_response=self.text,
            stopped=stopped,
            tool_calls=list(self.tool_calls),
            sources=list(self.sources),
        )

    def error_frame(self, code: str, message: str) -> BotErrorFrame:
        """The last frame of a failed answer."""
        return BotErrorFrame(
            room_id=self.room_id,
            message_id=self.message_id,
            reply_to=self.reply_to,
            username=self.username,
            code=code,
            message=message,
        )

    def _stream_frame(
        self,
        chunk: str,
        *,
        full_response: str | None = None,
        stopped: bool | None = None,
        tool_calls: list[ToolCall] | None = None,
        sources: list[Source] | None = None,
    ) -> BotStreamFrame:
        return BotStreamFrame(
            room_id=self.room_id,
            message_id=self.message_id,
            reply_to=self.reply_to,
            username=self.username,
            chunk=chunk,
            is_complete=full_response is not None,
            seq=self.seq,
            offset=self.offset,
            full_response=full_response,
            stopped=stopped,
            tool_calls=tool_calls,
            sources=sources,
        )
