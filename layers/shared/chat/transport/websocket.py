"""The WebSocket transport: API Gateway WebSocket events in, status codes out.

Everything the client sees besides the handshake status goes through the management API
(chat.realtime); here only the handshake's refusal is mapped to an HTTP status.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.data_classes import APIGatewayWebSocketEvent

from chat.errors import ChatError
from chat.logic import presence as realtime
from chat.observability import logger

CORRELATION_ID_PATH = "requestContext.requestId"


def _status(code: int, message: str = "") -> dict[str, Any]:
    return {"statusCode": code, "body": message}


def handle_connection_event(raw: dict[str, Any]) -> dict[str, Any]:
    """$connect: authenticate ?token= (401 refuses the handshake); $disconnect: clean up."""
    event = APIGatewayWebSocketEvent(raw)
    connection_id = event.request_context.connection_id
    if event.request_context.event_type == "DISCONNECT":
        realtime.disconnect(connection_id)
        return _status(200)
    token = (event.query_string_parameters or {}).get("token")
    try:
        principal = realtime.connect(connection_id, token)
    except ChatError as exc:
        logger.info("handshake refused", extra={"reason": exc.message})
        return _status(401, "Unauthorized")
    logger.append_keys(user_id=principal.user_id)
    return _status(200)


def handle_frame_event(raw: dict[str, Any]) -> dict[str, Any]:
    event = APIGatewayWebSocketEvent(raw)
    realtime.handle_frame(event.request_context.connection_id, event.body)
    return _status(200)
