"""The frames a WebSocket client sends (docs/API.md, client → server), validated at the
boundary: a `ReceivedFrame` is parsed once (under the body rules, chat.transport.body_rules)
into one of these models, or rejected with a ChatError whose `error` frame echoes the
frame's type."""

from __future__ import annotations

from functools import cached_property
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictBool, TypeAdapter, ValidationError

from chat.errors import BadRequest, ChatError, TooLarge, ValidationFailed
from chat.models import AttachmentIds, ClientId, Id, MessageText
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
    room_id: Id


class ClientLeave(_Frame):
    type: Literal["leave"]
    room_id: Id


class ClientMessage(_Frame):
    type: Literal["message"]
    room_id: Id
    content: MessageText = ""  # may be empty when the message carries attachments
    client_id: ClientId | None = None
    attachments: AttachmentIds = []
    reply_to: Id | None = None
    private: StrictBool = False  # only on a bot command


class ClientTyping(_Frame):
    type: Literal["typing"]
    room_id: Id
    is_typing: bool


class ClientPing(_Frame):
    type: Literal["ping"]


class ClientBotStop(_Frame):
    type: Literal["bot_stop"]
    room_id: Id
    message_id: Id


ClientFrame = Annotated[
    ClientJoin | ClientLeave | ClientMessage | ClientTyping | ClientPing | ClientBotStop,
    Field(discriminator="type"),
]
_frames: TypeAdapter[Any] = TypeAdapter(ClientFrame)
FRAME_TYPES = ("join", "leave", "message", "typing", "ping", "bot_stop")


class ReceivedFrame:
    """A frame as a client sent it. Its JSON is read once, for its `type` (echoed in
    `error` frames, when it is a string) and for its validation."""

    def __init__(self, body: str | None):
        self.body = body or ""

    @cached_property
    def _json(self) -> tuple[Any, ChatError | None]:
        try:
            return body_rules.loads(self.body, "Frame"), None
        except ChatError as exc:
            return None, exc

    @property
    def type(self) -> str | None:
        data, _ = self._json
        value = data.get("type") if isinstance(data, dict) else None
        return value if isinstance(value, str) else None

    def validated(self) -> ClientFrame:
        """The validated frame, or the ChatError that describes what is wrong with it."""
        if len(self.body.encode("utf-8", "surrogatepass")) > MAX_CLIENT_MESSAGE_BYTES:
            raise TooLarge(f"Messages are limited to {MAX_CLIENT_MESSAGE_BYTES // 1024} KiB")
        data, error = self._json
        if error is not None:
            raise error
        if not isinstance(data, dict):
            raise BadRequest("Frame must be a JSON object")
        if data.get("type") not in FRAME_TYPES:
            raise BadRequest(f"Unknown frame type; expected one of: {', '.join(FRAME_TYPES)}")
        try:
            return _frames.validate_python(data)
        except ValidationError as exc:
            fields = sorted(
                {".".join(str(p) for p in error["loc"][1:]) or "frame" for error in exc.errors()}
            )
            raise ValidationFailed(f"Invalid field(s): {', '.join(fields)}") from exc
