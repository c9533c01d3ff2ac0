"""The WebSocket transport: API Gateway WebSocket events in, status codes out. Here the
handshake and the connection's end; its frames: chat.transport.websocket_frames, which the
connect and authorizer functions do not load.

Who is calling comes from the `$connect` route's Lambda REQUEST authorizer
(`handle_authorizer_event`): it verifies `?token=` once, and API Gateway hands its context
(user id, username, the token's expiry) to every later route of that connection in
`requestContext.authorizer`, so a frame needs no read to know its sender.

Replies go back through the management API like every other frame. Where domain errors
become WebSocket answers: a refused handshake is a 401 (here); a bad or failed client frame
gets an `error` frame and the connection stays open, and a frame sent after the
connection's token expired gets an `unauthorized` error frame and the connection is closed
(chat.transport.websocket_frames).
"""

from __future__ import annotations

from typing import Any

from chat.errors import ChatError, Unauthorized
from chat.logic.accounts import revocation
from chat.logic.realtime import presence
from chat.observability import logger
from chat.principal import Principal

CORRELATION_ID_PATH = "requestContext.requestId"


class HandshakeRefused(Exception):
    """Fails the authorizer with the message API Gateway turns into a 401 handshake."""

    def __init__(self) -> None:
        super().__init__("Unauthorized")


def status(code: int, message: str = "") -> dict[str, Any]:
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
        return status(200)
    try:
        principal = principal_of(raw)
    except ChatError as exc:
        logger.info("handshake refused", extra={"reason": exc.message})
        return status(401, "Unauthorized")
    presence.connect(presence.Socket(connection_id, connected_at(context)), principal)
    try:
        revocation.check(principal)
    except ChatError as exc:
        logger.info("handshake refused", extra={"reason": exc.message})
        presence.disconnect(connection_id)
        return status(401, "Unauthorized")
    logger.append_keys(user_id=principal.user_id)
    return status(200)


def connected_at(context: dict[str, Any]) -> int:
    return int(context.get("connectedAt") or 0)
