"""Revoked tokens: a logout revokes the token it was made with, a password change or a
deletion every earlier token of the user (their token generation moves on).

- Every REST request and every WebSocket handshake checks its token here (`authenticate`):
  one strongly consistent GetItem of the user's revocations (chat.dal.revocations), after
  the signature. WebSocket frames check nothing: the connection was checked at `$connect`,
  and the request that revokes a token closes every socket opened with it
  (`close_revoked_sockets`), after an `unauthorized` error frame.
- A socket opening while its token is revoked: its authorizer ran before, its record is
  written after the revoking request looked for it. So `$connect` checks again once the
  connection is recorded (`check`): one of the two sees the other.
"""

from __future__ import annotations

from collections.abc import Callable

from aws_lambda_powertools.metrics import MetricUnit

from chat.dal import connections as connection_table
from chat.dal import revocations
from chat.dal.items import UserConnectionItem
from chat.errors import Unauthorized
from chat.frames import ErrorFrame
from chat.logic.accounts.tokens import verify_token
from chat.logic.realtime import presence
from chat.observability import logger, metrics
from chat.principal import Principal

REVOKED = "Access token revoked; log in again"


def check(principal: Principal) -> None:
    """Unauthorized when the principal's token was revoked."""
    state = revocations.get(principal.user_id)
    if principal.token_generation < state["generation"] or principal.token_id in state["revoked"]:
        raise Unauthorized(REVOKED)


def authenticate(token: str | None) -> Principal:
    """The principal of a valid token that was not revoked; Unauthorized otherwise."""
    principal = verify_token(token)
    check(principal)
    return principal


def revoke_token(principal: Principal) -> None:
    """Revoke the caller's token (until it would have expired) and close its sockets."""
    if principal.token_id is None or principal.token_expires_at is None:
        raise Unauthorized("This token cannot be revoked")
    revocations.revoke_token(principal.user_id, principal.token_id, principal.token_expires_at)
    metrics.add_metric(name="LoggedOut", unit=MetricUnit.Count, value=1)
    close_revoked_sockets(principal.user_id, lambda c: c["token_id"] == principal.token_id)


def revoke_earlier_tokens(user_id: str, generation: int) -> None:
    """Close the sockets opened with a token of a generation before `generation` (the
    generation itself was stored with the change that revoked them)."""
    close_revoked_sockets(user_id, lambda c: int(c["token_generation"]) < generation)


def close_revoked_sockets(user_id: str, revoked: Callable[[UserConnectionItem], bool]) -> int:
    """Send each of the user's sockets opened with a revoked token an `unauthorized` error
    frame, then close it; how many were closed."""
    closing = [c["connection_id"] for c in connection_table.user_connections(user_id) if revoked(c)]
    if not closing:
        return 0
    presence.send_to_connections(
        closing, ErrorFrame(code="unauthorized", message=REVOKED, request_type=None)
    )
    for connection_id in closing:
        try:
            presence.close(connection_id)
        except Exception:  # the token is revoked whatever becomes of this socket
            logger.exception("could not close a revoked connection")
    metrics.add_metric(name="RevokedConnectionsClosed", unit=MetricUnit.Count, value=len(closing))
    return len(closing)
