"""The WebSocket transport: API Gateway WebSocket events in, status codes out.

Who is calling comes from the `$connect` route's Lambda REQUEST authorizer
(`handle_authorizer_event`): it verifies `?token=` once, and API Gateway hands its context
(user id, username, the token's expiry) to every later route of that connection in
`requestContext.authorizer`, so a frame needs no read to know its sender.

Replies go back through the management API like every other frame. The one place where
domain errors become WebSocket answers: a refused handshake is a 401; a bad or failed
client frame gets an `error` frame and the connection stays open; a frame sent after the
connection's token expired gets an `unauthorized` error frame and the connection is closed.
"""

from __future__ import annotations

import time
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit

from chat import redaction
from chat.errors import ChatError, Unauthorized, Unavailable
from chat.frames import ErrorFrame, PongFrame
from chat.logic.accounts import revocation
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

CORRELATION_ID_PATH = "requestContext.requestId"


class HandshakeRefused(Exception):
    """Fails the authorizer with the message API Gateway turns into a 401 handshake."""

    def __init__(self) -> None:
        super().__init__("Unauthorized")


def _status(code: int, message: str = "") -> dict[str, Any]:
    return {"statusCode": code, "body": message}


# ------------------------------------------------------------------------------ $connect
def handle_authorizer_event(raw: dict[str, Any]) -> dict[str, Any]:
    """The `$connect` REQUEST authorizer: a valid `?token=` gets an IAM policy allowing the
    handshake, with the user as context for every later route; anything else a 401."""
    token = (raw.get("queryStringParameters") or {}).get("token")
    try:
        principal = revocation.authenticate(token)
    except ChatError as exc:
        logger.info("handshake refused", extra={"reason": exc.message})
        raise HandshakeRefused from None
    statement = {"Action": "execute-api:Invoke", "Effect": "Allow", "Resource": raw["methodArn"]}
    return {
        "principalId": principal.user_id,
        "policyDocument": {"Version": "2012-10-17", "Statement": [statement]},
        "context": {
            "user_id": principal.user_id,
            "username": principal.username,
            "token_expires_at": principal.token_expires_at,
            "token_id": principal.token_id,
            "token_generation": principal.token_generation,
        },
    }


def principal_of(raw: dict[str, Any]) -> Principal:
    """The user the authorizer let in; API Gateway may hand context numbers as strings."""
    context = (raw.get("requestContext") or {}).get("authorizer") or {}
    try:
        token_id = context.get("token_id")
        return Principal(
            user_id=str(context["user_id"]),
            username=str(context["username"]),
            token_expires_at=int(context["token_expires_at"]),
            token_id=str(token_id) if token_id else None,
            token_generation=int(context.get("token_generation") or 0),
        )
    except (KeyError, TypeError, ValueError):
        raise Unauthorized("Connection is not authenticated; reconnect with a token") from None


def handle_connection_event(raw: dict[str, Any]) -> dict[str, Any]:
    """$connect (after the authorizer): record the connection, then check its token again
    (a revocation made since the authorizer ran found no record of it to close);
    $disconnect: clean up."""
    context = raw["requestContext"]
    connection_id = context["connectionId"]
    if context.get("eventType") == "DISCONNECT":
        presence.disconnect(connection_id)
        return _status(200)
    try:
        principal = principal_of(raw)
    except ChatError as exc:
        logger.info("handshake refused", extra={"reason": exc.message})
        return _status(401, "Unauthorized")
    presence.connect(presence.Socket(connection_id, _connected_at(context)), principal)
    try:
        revocation.check(principal)
    except ChatError as exc:
        logger.info("handshake refused", extra={"reason": exc.message})
        presence.disconnect(connection_id)
        return _status(401, "Unauthorized")
    logger.append_keys(user_id=principal.user_id)
    return _status(200)


def _connected_at(context: dict[str, Any]) -> int:
    return int(context.get("connectedAt") or 0)


# ------------------------------------------------------------------------------ frames
def handle_frame_event(raw: dict[str, Any]) -> dict[str, Any]:
    context = raw["requestContext"]
    socket = presence.Socket(context["connectionId"], _connected_at(context))
    handle_frame(socket, raw, raw.get("body"))
    return _status(200)


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
