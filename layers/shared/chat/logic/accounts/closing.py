"""Closing an account (`DELETE /auth/me`). The password is asked for (a wrong one counts as
a failed login), then, in this order, so that a request cut short leaves nothing half-done
that a job cannot finish:

1. the account is closed in one transaction: no password and no email any more (the email
   claim given up), the username kept for good, the next token generation (every token of
   the user revoked);
2. the sockets of the user are closed (chat.logic.accounts.revocation) and their push
   subscriptions removed;
3. a job is queued (chat.adapters.erasure_queue) that leaves whatever rooms are left and,
   with `erase_messages`, tombstones every message of the user (chat.logic.accounts.erasure);
4. the user leaves every room, as leaving does (the owner hands the room on; a direct room
   keeps its history); their read state goes with their memberships.
"""

from __future__ import annotations

from aws_lambda_powertools.metrics import MetricUnit

from chat.adapters import erasure_queue
from chat.dal import rooms as room_table
from chat.dal import users as user_table
from chat.errors import ChatError, Conflict, NotFound
from chat.ids import now_iso
from chat.logic.accounts import revocation, sign_in
from chat.logic.rooms import membership
from chat.models import DeleteAccountRequest
from chat.observability import logger, metrics
from chat.principal import Principal


def close_account(
    principal: Principal, request: DeleteAccountRequest, source_ip: str | None = None
) -> None:
    password = request.password.get_secret_value()
    credentials = sign_in.check_password(principal.username, password, source_ip)
    generation = user_table.close_account(credentials, now_iso(), request.erase_messages)
    if generation is None:
        raise Conflict("The account changed meanwhile; try again")
    metrics.add_metric(name="AccountsClosed", unit=MetricUnit.Count, value=1)
    logger.info(
        "account closed",
        extra={"user_id": principal.user_id, "erase_messages": request.erase_messages},
    )
    revocation.revoke_earlier_tokens(principal.user_id, generation)
    forget_push_subscriptions(principal.user_id)
    job = erasure_queue.ErasureJob(
        principal.user_id, principal.username, erase_messages=request.erase_messages
    )
    erasure_queue.enqueue(job, delay_seconds=erasure_queue.START_DELAY_SECONDS)
    leave_every_room(principal, strict=False)


def forget_push_subscriptions(user_id: str) -> None:
    """Remove the user's Web Push subscriptions. This branch has none to remove: the
    notifications wing (Web Push) calls its removal from here when it lands."""


def leave_every_room(principal: Principal, *, strict: bool) -> int:
    """Leave each room the user is still in, as `DELETE /rooms/{id}/members/me` does; how
    many were left. A room left meanwhile (by the closing job, or the request) is skipped;
    another failure is raised when `strict`, else logged (the job leaves it later)."""
    left = 0
    for room_id in room_table.room_ids_of_user(principal.user_id):
        try:
            membership.leave_room(principal, room_id)
            left += 1
        except NotFound:
            continue
        except ChatError:
            if strict:
                raise
            logger.warning("could not leave a room now", extra={"room_id": room_id})
    return left
