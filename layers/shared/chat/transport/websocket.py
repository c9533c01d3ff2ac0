"""The WebSocket transport: API Gateway WebSocket events in, status codes out.

Replies go back through the management API like every other frame. The one place where
domain errors become WebSocket answers: a refused handshake is a 401; a bad or failed
client frame gets an `error` frame and the connection stays open.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.data_classes import APIGatewayWebSocketEvent

from chat import redaction
from chat.errors import ChatError, Unavailable
from chat.frames import ErrorFrame, PongFrame
from chat.logic import presence
from chat.logic.messages import post_message
from chat.logic.tokens import Principal
from chat.observability import logger, metrics
from chat.transport.client_frames import (
    ClientJoin,
    ClientLeave,
    ClientMessage,
    ClientPing,
    ClientTyping,
    parse_frame,
    request_type,
)

CORRELATION_ID_PATH = "requestContext.requestId"


def _status(code: int, message: str = "") -> dict[str, Any]:
    return {"statusCode": code, "body": message}


def handle_connection_event(raw: dict[str, Any]) -> dict[str, Any]:
    """$connect: authenticate ?token= (401 refuses the handshake); $disconnect: clean up."""
    event = APIGatewayWebSocketEvent(raw)
    connection_id = event.request_context.connection_id
    if event.request_context.event_type == "DISCONNECT":
        presence.disconnect(connection_id)
        return _status(200)
    token = (event.query_string_parameters or {}).get("token")
    try:
        principal = presence.connect(connection_id, token)
    except ChatError as exc:
        logger.info("handshake refused", extra={"reason": exc.message})
        return _status(401, "Unauthorized")
    logger.append_keys(user_id=principal.user_id)
    return _status(200)


def handle_frame_event(raw: dict[str, Any]) -> dict[str, Any]:
    event = APIGatewayWebSocketEvent(raw)
    handle_frame(event.request_context.connection_id, event.body)
    return _status(200)


def handle_frame(connection_id: str, body: str | None) -> None:
    """Handle one client frame; every failure becomes an `error` frame to the sender."""
    try:
        frame = parse_frame(body)
        connection, principal = presence.connection_of(connection_id)
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
    # The message is redacted: it may quote what a library said about a secret.
    message = redaction.redact(exc.message)
    frame = ErrorFrame(code=exc.code, message=message, request_type=request_type(body))
    presence.send_to_connection(connection_id, frame)


def _dispatch(connection: dict[str, Any], principal: Principal, frame: Any) -> None:
    connection_id = connection["connection_id"]
    if isinstance(frame, ClientPing):
        presence.send_to_connection(connection_id, PongFrame())
    elif isinstance(frame, ClientJoin):
        presence.join(connection, principal, frame.room_id)
    elif isinstance(frame, ClientLeave):
        presence.leave(connection_id, principal, frame.room_id)
    elif isinstance(frame, ClientMessage):
        post_message(
            principal,
            frame.room_id,
            frame.content,
            frame.client_id,
            attachment_ids=frame.attachments,
            connection_id=connection_id,
        )
    elif isinstance(frame, ClientTyping):
        presence.typing(principal, frame.room_id, frame.is_typing)
