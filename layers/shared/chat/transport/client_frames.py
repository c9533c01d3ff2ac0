"""The frames a WebSocket client sends (shared/API.md, client → server), validated at the
boundary: a frame is parsed (under the body rules, chat.transport.body_rules) into one of
these models or rejected with a ChatError."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError

from chat.errors import BadRequest, ChatError, TooLarge, ValidationFailed
from chat.models import AttachmentIds, ClientId, MessageId, MessageText, RoomId
from chat.transport import body_rules

# The most a client message may hold, as a REST body: API Gateway carries up to 128 KB per
# message (in 32 KB frames, which client libraries make), so 4,000 characters of content
# escaped as JSON fit whatever the characters.
MAX_CLIENT_MESSAGE_BYTES = 64 * 1024


class _Frame(BaseModel):
    # Validators built at first use, not at import (cold start; see chat.models.Model).
    model_config = ConfigDict(extra="ignore", defer_build=True)


class ClientJoin(_Frame):
    type: Literal["join"]
    room_id: RoomId


class ClientLeave(_Frame):
    type: Literal["leave"]
    room_id: RoomId


class ClientMessage(_Frame):
    type: Literal["message"]
    room_id: RoomId
    content: MessageText = ""  # may be empty when the message carries attachments
    client_id: ClientId | None = None
    attachments: AttachmentIds = []
    reply_to: MessageId | None = None


class ClientTyping(_Frame):
    type: Literal["typing"]
    room_id: RoomId
    is_typing: bool


class ClientPing(_Frame):
    type: Literal["ping"]


class ClientBotStop(_Frame):
    type: Literal["bot_stop"]
    room_id: RoomId
    message_id: MessageId


ClientFrame = Annotated[
    ClientJoin | ClientLeave | ClientMessage | ClientTyping | ClientPing | ClientBotStop,
    Field(discriminator="type"),
]
_frames: TypeAdapter[Any] = TypeAdapter(ClientFrame)
FRAME_TYPES = ("join", "leave", "message", "typing", "ping", "bot_stop")


def parse_frame(body: str | None) -> Any:
    """A validated client frame, or the ChatError that describes what is wrong with it."""
    raw = body or ""
    if len(raw.encode("utf-8", "surrogatepass")) > MAX_CLIENT_MESSAGE_BYTES:
        raise TooLarge(f"Messages are limited to {MAX_CLIENT_MESSAGE_BYTES // 1024} KiB")
    data = body_rules.loads(raw, "Frame")
    if not isinstance(data, dict):
        raise BadRequest("Frame must be a JSON object")
    if data.get("type") not in FRAME_TYPES:
        raise BadRequest(f"Unknown frame type; expected one of: {', '.join(FRAME_TYPES)}")
    try:
        return _frames.validate_python(data)
    except ValidationError as exc:
        fields = sorted(
            {".".join(str(part) for part in error["loc"][1:]) or "frame" for error in exc.errors()}
        )
        raise ValidationFailed(f"Invalid field(s): {', '.join(fields)}") from exc


def request_type(body: str | None) -> str | None:
    """The `type` of a frame, when it has a string one (echoed in `error` frames)."""
    try:
        data = body_rules.loads(body or "", "Frame")
    except ChatError:
        return None
    value = data.get("type") if isinstance(data, dict) else None
    return value if isinstance(value, str) else None
