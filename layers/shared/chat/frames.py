"""Every frame the server pushes to WebSocket clients (docs/API.md, server → client), as a
typed model. A frame is built here once and serialised once per fan-out (`encode`)."""

from __future__ import annotations

import json
from typing import Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict

from chat.models import Message, Source, ToolCall

# API Gateway's WebSocket frame size: the bot's answer frames are kept under it (a client
# message may be larger: chat.transport.client_frames).
MAX_FRAME_BYTES = 32 * 1024


class ServerFrame(BaseModel):
    # Validators built at first use, not at import (cold start; see chat.models.Model).
    model_config = ConfigDict(frozen=True, defer_build=True)
    # Fields left out of the wire form when None (the others are always present).
    omit_if_none: ClassVar[frozenset[str]] = frozenset()

    def wire(self) -> dict[str, Any]:
        data = self.model_dump()
        for name in self.omit_if_none:
            if data.get(name) is None:
                data.pop(name, None)
        return data

    def encode(self) -> bytes:
        return json.dumps(self.wire(), ensure_ascii=False, separators=(",", ":")).encode("utf-8")


class MessageFrame(ServerFrame, Message):
    """A stored message, pushed to the room (and to its sender's socket, as the ack)."""

    type: Literal["message"] = "message"

    @classmethod
    def of(cls, message: Message) -> MessageFrame:
        return cls(**message.model_dump())


class TypingFrame(ServerFrame):
    type: Literal["typing"] = "typing"
    room_id: str
    username: str
    is_typing: bool


class PresenceFrame(ServerFrame):
    type: Literal["presence"] = "presence"
    room_id: str
    username: str
    status: Literal["online", "offline"]


class JoinedFrame(ServerFrame):
    type: Literal["joined"] = "joined"
    room_id: str
    online: list[str]


class LeftFrame(ServerFrame):
    type: Literal["left"] = "left"
    room_id: str


class RoomUpdatedFrame(ServerFrame):
    """A room changed: its new owner (after the owner left) or its new name."""

    omit_if_none = frozenset({"owner", "name"})
    type: Literal["room_updated"] = "room_updated"
    room_id: str
    owner: str | None = None
    name: str | None = None


class PongFrame(ServerFrame):
    type: Literal["pong"] = "pong"


class ErrorFrame(ServerFrame):
    """A rejected client frame; `request_type` echoes its `type` when it had a string one."""

    type: Literal["error"] = "error"
    code: str
    message: str
    request_type: str | None


class BotStreamFrame(ServerFrame):
    """A part of the bot's answer; the last one has `is_complete`, `full_response` and
    `stopped`, and the answer's `tool_calls` and `sources`. `seq` numbers the frames of one
    answer (0, 1, 2 …); `offset` is the number of characters (code points) of the answer
    before `chunk`."""

    omit_if_none = frozenset({"full_response", "stopped", "tool_calls", "sources"})
    type: Literal["bot_stream"] = "bot_stream"
    room_id: str
    message_id: str
    reply_to: str
    username: str  # the bot answering
    chunk: str
    is_complete: bool
    seq: int
    offset: int
    full_response: str | None = None
    stopped: bool | None = None
    tool_calls: list[ToolCall] | None = None
    sources: list[Source] | None = None


class BotErrorFrame(ServerFrame):
    type: Literal["bot_error"] = "bot_error"
    room_id: str
    message_id: str
    reply_to: str
    username: str  # the bot answering
    code: str
    message: str


# ------------------------------------------------------------------------------ conversation
# Edits, deletions, reactions, read state and moderation (docs/API.md, Conversation features).
class MessageUpdatedFrame(ServerFrame, Message):
    """A message after an edit, whole."""

    type: Literal["message_updated"] = "message_updated"

    @classmethod
    def of(cls, message: Message) -> MessageUpdatedFrame:
        return cls(**message.model_dump())


class MessageDeletedFrame(ServerFrame):
    type: Literal["message_deleted"] = "message_deleted"
    room_id: str
    message_id: str


class ReactionFrame(ServerFrame):
    type: Literal["reaction"] = "reaction"
    room_id: str
    message_id: str
    emoji: str
    username: str
    added: bool
    count: int


class ReadFrame(ServerFrame):
    """A member's read pointer moved (to the room's other users)."""

    type: Literal["read"] = "read"
    room_id: str
    username: str
    message_id: str


class RemovedFrame(ServerFrame):
    """To the sockets of a member the owner removed from the room."""

    type: Literal["removed"] = "removed"
    room_id: str


# ------------------------------------------------------------------------------ notifications
class MentionFrame(ServerFrame):
    """To every open connection of a member a message mentions (joined to the room or not);
    `username` is the message's author."""

    type: Literal["mention"] = "mention"
    room_id: str
    message_id: str
    username: str
    content: str
