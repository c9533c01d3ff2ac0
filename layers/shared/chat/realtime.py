"""The WebSocket protocol (shared/API.md, WebSocket): connecting, the client frames, presence.

Replies go back through the management API like every other frame. A bad frame gets an
`error` frame and the connection stays open; domain errors are mapped to frames in
`handle_frame` only.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from aws_lambda_powertools.metrics import MetricUnit
from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError

from chat import auth, body_rules, broadcast, redaction
from chat.access import require_member
from chat.dal import connections
from chat.errors import (
    BadRequest,
    ChatError,
    TooLarge,
    Unauthorized,
    Unavailable,
    ValidationFailed,
)
from chat.ids import now_iso
from chat.messages import post_message
from chat.models import ClientId, Content, RoomId
from chat.observability import logger, metrics

MAX_CLIENT_FRAME_BYTES = 32 * 1024


class _Frame(BaseModel):
    model_config = ConfigDict(extra="ignore")


class JoinFrame(_Frame):
    type: Literal["join"]
    room_id: RoomId


class LeaveFrame(_Frame):
    type: Literal["leave"]
    room_id: RoomId


class MessageFrame(_Frame):
    type: Literal["message"]
    room_id: RoomId
    content: Content
    client_id: ClientId | None = None


class TypingFrame(_Frame):
    type: Literal["typing"]
    room_id: RoomId
    is_typing: bool


class PingFrame(_Frame):
    type: Literal["ping"]


ClientFrame = Annotated[
    JoinFrame | LeaveFrame | MessageFrame | TypingFrame | PingFrame, Field(discriminator="type")
]
_frames: TypeAdapter[Any] = TypeAdapter(ClientFrame)
FRAME_TYPES = ("join", "leave", "message", "typing", "ping")


# ------------------------------------------------------------------------------ connect
def connect(connection_id: str, token: str | None) -> auth.Principal:
    """Authenticate a handshake and record the connection; Unauthorized refuses it."""
    principal = auth.verify_token(token)
    connections.put_connection(connection_id, principal.user_id, principal.username, now_iso())
    return principal


def disconnect(connection_id: str) -> None:
    """Forget a connection; members who had no other socket in a room go offline there."""
    meta, room_ids = connections.remove_connection(connection_id)
    if meta is None:
        return
    for room_id in room_ids:
        _announce_offline_if_last(room_id, meta["user_id"], meta["username"])


def _presence(room_id: str, username: str, status: str) -> dict[str, Any]:
    return {"type": "presence", "room_id": room_id, "username": username, "status": status}


def _announce(
    subscribers: list[dict[str, Any]], room_id: str, user_id: str, username: str, status: str
) -> None:
    """Tell the room's other users (every socket of theirs) that a user came or went."""
    others = (s["connection_id"] for s in subscribers if s["user_id"] != user_id)
    broadcast.to_connections(others, _presence(room_id, username, status))


def _announce_offline_if_last(room_id: str, user_id: str, username: str) -> None:
    subscribers = connections.room_subscribers(room_id)
    if not any(s["user_id"] == user_id for s in subscribers):
        _announce(subscribers, room_id, user_id, username, "offline")


def drop_user_from_room(room_id: str, user_id: str, username: str) -> None:
    """Unsubscribe every socket of a user who left the room, and tell the others."""
    subscribers = connections.room_subscribers(room_id)
    own = [s["connection_id"] for s in subscribers if s["user_id"] == user_id]
    for connection_id in own:
        connections.unsubscribe(connection_id, room_id)
    if own:
        _announce(subscribers, room_id, user_id, username, "offline")


# ------------------------------------------------------------------------------ frames
def parse_frame(body: str | None) -> Any:
    """A validated client frame, or the ChatError that describes what is wrong with it."""
    raw = body or ""
    if len(raw.encode("utf-8", "surrogatepass")) > MAX_CLIENT_FRAME_BYTES:
        raise TooLarge(f"Frames are limited to {MAX_CLIENT_FRAME_BYTES} bytes")
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


def _request_type(body: str | None) -> str | None:
    try:
        data = body_rules.loads(body or "", "Frame")
    except ChatError:
        return None
    value = data.get("type") if isinstance(data, dict) else None
    return value if isinstance(value, str) else None


def handle_frame(connection_id: str, body: str | None) -> None:
    """Handle one client frame; every failure becomes an `error` frame to the sender."""
    try:
        frame = parse_frame(body)
        connection = connections.get_connection(connection_id)
        if connection is None:
            raise Unauthorized("Connection is not authenticated; reconnect with a token")
        principal = auth.Principal(user_id=connection["user_id"], username=connection["username"])
        _dispatch(connection, principal, frame)
    except ChatError as exc:
        _reject(connection_id, body, exc)
    except Exception:
        # A failing dependency must not surface as API Gateway's bare "Internal server
        # error" message: the client gets the contract's error frame, without internals.
        logger.exception("frame failed", extra={"connection_id": connection_id})
        metrics.add_metric(name="FrameFailures", unit=MetricUnit.Count, value=1)
        _reject(connection_id, body, Unavailable())


def _reject(connection_id: str, body: str | None, exc: ChatError) -> None:
    broadcast.to_connection(
        connection_id,
        {
            "type": "error",
            "code": exc.code,
            "message": redaction.redact(exc.message),
            "request_type": _request_type(body),
        },
    )


def _dispatch(connection: dict[str, Any], principal: auth.Principal, frame: Any) -> None:
    connection_id = connection["connection_id"]
    if isinstance(frame, PingFrame):
        broadcast.to_connection(connection_id, {"type": "pong"})
    elif isinstance(frame, JoinFrame):
        require_member(frame.room_id, principal.user_id)
        _join(connection, principal, frame.room_id)
    elif isinstance(frame, LeaveFrame):
        require_member(frame.room_id, principal.user_id)
        _leave(connection_id, principal, frame.room_id)
    elif isinstance(frame, MessageFrame):
        post_message(
            principal, frame.room_id, frame.content, frame.client_id, connection_id=connection_id
        )
    elif isinstance(frame, TypingFrame):
        require_member(frame.room_id, principal.user_id)
        broadcast.to_room(
            frame.room_id,
            {
                "type": "typing",
                "room_id": frame.room_id,
                "username": principal.username,
                "is_typing": frame.is_typing,
            },
            exclude_user_id=principal.user_id,
        )


def _join(connection: dict[str, Any], principal: auth.Principal, room_id: str) -> None:
    connection_id = connection["connection_id"]
    before = connections.room_subscribers(room_id)
    if not connections.subscribe(connection, room_id):
        raise Unauthorized("Connection is no longer open")
    was_online = any(s["user_id"] == principal.user_id for s in before)
    online = sorted({s["username"] for s in before} | {principal.username})
    broadcast.to_connection(connection_id, {"type": "joined", "room_id": room_id, "online": online})
    if not was_online:  # so `before` holds none of this user's sockets
        _announce(before, room_id, principal.user_id, principal.username, "online")
    logger.debug("joined", extra={"room_id": room_id, "connection_id": connection_id})


def _leave(connection_id: str, principal: auth.Principal, room_id: str) -> None:
    # Only a socket that was subscribed can take its user offline: leaving a room this
    # socket never joined must not announce someone who was never online.
    before = connections.room_subscribers(room_id)
    connections.unsubscribe(connection_id, room_id)
    broadcast.to_connection(connection_id, {"type": "left", "room_id": room_id})
    was_subscribed = any(s["connection_id"] == connection_id for s in before)
    still_online = any(
        s["user_id"] == principal.user_id and s["connection_id"] != connection_id for s in before
    )
    if was_subscribed and not still_online:
        _announce(before, room_id, principal.user_id, principal.username, "offline")
