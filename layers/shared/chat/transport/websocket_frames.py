"""The WebSocket transport's frames: each client frame of a connection handed to the logic,
and the one place where domain errors become WebSocket frames: a bad or failed client frame
gets an `error` frame and the connection stays open; a frame sent after the connection's
token expired gets an `unauthorized` error frame and the connection is closed. The
handshake and the connection's end: chat.transport.websocket.
"""

from __future__ import annotations

import time
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit

from chat import redaction
from chat.errors import ChatError, Unauthorized, Unavailable
from chat.frames import ErrorFrame, PongFrame
from chat.logic.bot import control as bot_control
from chat.logic.conversation.messages import post_message
from chat.logic.realtime import presence
from chat.observability import logger, metrics
from chat.principal import Principal
from chat.transport.client_frames import (
    ClientBotStop,
    ClientJoin,
    ClientLeave,
    ClientMessage,
    ClientPing,
    ClientTyping,
    ReceivedFrame,
)
from chat.transport.websocket import CORRELATION_ID_PATH, connected_at, principal_of, status

__all__ = ["CORRELATION_ID_PATH", "handle_frame", "handle_frame_event"]


def handle_frame_event(raw: dict[str, Any]) -> dict[str, Any]:
    context = raw["requestContext"]
    socket = presence.Socket(context["connectionId"], connected_at(context))
    handle_frame(socket, raw, raw.get("body"))
    return status(200)


def handle_frame(socket: presence.Socket, raw: dict[str, Any], body: str | None) -> None:
    """Handle one client frame; every failure becomes an `error` frame to the sender."""
    connection_id = socket.connection_id
    frame = ReceivedFrame(body)
    try:
        principal = principal_of(raw)
        if principal.token_expires_at is not None and principal.token_expires_at <= time.time():
            expired = Unauthorized("Access token expired; reconnect with a new one")
            _reject(connection_id, frame, expired)
            presence.close(connection_id)
            return
        _dispatch(socket, principal, frame.validated())
    except ChatError as exc:
        _reject(connection_id, frame, exc)
    except Exception:
        # A failing dependency must not surface as API Gateway's bare "Internal server
        # error" message: the client gets the contract's error frame, without internals.
        logger.exception("frame failed", extra={"connection_id": connection_id})
        metrics.add_metric(name="UnhandledErrors", unit=MetricUnit.Count, value=1)
        _reject(connection_id, frame, Unavailable())


def _reject(connection_id: str, frame: ReceivedFrame, exc: ChatError) -> None:
    if exc.code == "internal":  # the frame failed on our side (alarmed: FrameFailuresAlarm)
        metrics.add_metric(name="FrameFailures", unit=MetricUnit.Count, value=1)
    # The message is redacted: it may quote what a library said about a secret.
    message = redaction.redact(exc.message)
    error = ErrorFrame(code=exc.code, message=message, request_type=frame.type)
    presence.send_to_connection(connection_id, error)


def _dispatch(socket: presence.Socket, principal: Principal, frame: Any) -> None:
    connection_id = socket.connection_id
    if isinstance(frame, ClientMessage):
        post_message(
            principal,
            frame.room_id,
            frame.content,
            frame.client_id,
            attachment_ids=frame.attachments,
            connection_id=connection_id,
            reply_to=frame.reply_to,
            private=frame.private,
        )
    elif isinstance(frame, ClientPing):
        presence.send_to_connection(connection_id, PongFrame())
    elif isinstance(frame, ClientJoin):
        presence.join(socket, principal, frame.room_id)
    elif isinstance(frame, ClientLeave):
        presence.leave(connection_id, principal, frame.room_id)
    elif isinstance(frame, ClientTyping):
        presence.typing(principal, frame.room_id, frame.is_typing)
    elif isinstance(frame, ClientBotStop):
        bot_control.stop_answer(principal, frame.room_id, frame.message_id)
