"""Fan-out: push one frame to many connections.

The frame is serialised once; pushes run in parallel on a bounded thread pool (the
management client's connection pool is as large). Any failure of one push is logged and
counted, never raised, and disturbs no other push. Gone connections (410/403) are only
reported: what a gone connection means (a disconnect) is presence's rule
(chat.logic.realtime.presence). A room's subscriber whose token has expired gets nothing
(docs/API.md: it receives no more frames); it is reported too, for presence to close. A push
API Gateway throttled (the account's send rate) is reported apart, so that the caller can
send it again later (chat.logic.realtime.broadcast) and slow down.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from aws_lambda_powertools.metrics import MetricUnit

from chat.adapters.management_api import ConnectionGone, Throttled, post_to_connection
from chat.aws import PUSH_POOL_SIZE, thread_pool
from chat.dal.items import SubscriberItem, UserConnectionItem
from chat.frames import ServerFrame
from chat.observability import capture_method, logger, metrics


def pool() -> ThreadPoolExecutor:
    """The pushes' thread pool (also for queries that run while a caller does other work)."""
    return thread_pool("push", PUSH_POOL_SIZE)


@dataclass
class FanOut:
    delivered: int = 0
    gone: list[str] = field(default_factory=list)
    failed: int = 0
    expired: list[str] = field(default_factory=list)  # skipped: their token has expired
    throttled: list[str] = field(default_factory=list)  # refused for the account's rate
    queued: int = 0  # handed to the fan-out queue (pushed by the fan-out function)
    recipients: int = 0  # connections the frame was for (every outcome above but expired)

    def add(self, other: FanOut) -> None:
        """Count another part of the same broadcast in."""
        self.delivered += other.delivered
        self.gone += other.gone
        self.failed += other.failed
        self.expired += other.expired
        self.throttled += other.throttled
        self.queued += other.queued
        self.recipients += other.recipients


def token_expired(subscriber: SubscriberItem | UserConnectionItem, now: float) -> bool:
    """Whether the token a connection opened with has expired."""
    expires_at = subscriber.get("token_expires_at")
    return expires_at is not None and int(expires_at) <= now


def _push(connection_id: str, data: bytes) -> str:
    try:
        post_to_connection(connection_id, data)
        return "delivered"
    except ConnectionGone:
        return "gone"
    except Throttled:
        return "throttled"
    except Exception:  # one bad push must not stop the others
        logger.exception("push failed", extra={"connection_id": connection_id})
        return "failed"


# One trace subsegment per fan-out, not per push: the pushes are signed HTTP requests that
# X-Ray does not record as AWS calls (chat.aws.ManagementApi), and a room of 1000 would
# make a trace of 1000 subsegments. Only where the function has a tracer (the bot worker).
@capture_method
def to_connections(connection_ids: Iterable[str], frame: ServerFrame) -> FanOut:
    """Push a frame to the given connections in parallel; report what became of each."""
    return push(connection_ids, frame.encode())


def push(connection_ids: Iterable[str], data: bytes) -> FanOut:
    """Push an encoded frame to the given connections in parallel; report what became of
    each."""
    ids = list(dict.fromkeys(connection_ids))
    result = FanOut(recipients=len(ids))
    if not ids:
        return result
    outcomes = (
        [_push(ids[0], data)]
        if len(ids) == 1
        else list(pool().map(lambda cid: _push(cid, data), ids))
    )
    for connection_id, outcome in zip(ids, outcomes, strict=True):
        if outcome == "delivered":
            result.delivered += 1
        elif outcome == "gone":
            result.gone.append(connection_id)
        elif outcome == "throttled":
            result.throttled.append(connection_id)
        else:
            result.failed += 1
    metrics.add_metric(name="FramesPushed", unit=MetricUnit.Count, value=result.delivered)
    if result.gone:
        metrics.add_metric(name="GoneConnections", unit=MetricUnit.Count, value=len(result.gone))
    if result.failed:
        metrics.add_metric(name="PushFailures", unit=MetricUnit.Count, value=result.failed)
    if result.throttled:
        metrics.add_metric(
            name="PushesThrottled", unit=MetricUnit.Count, value=len(result.throttled)
        )
    return result


def recipients(
    subscribers: Sequence[SubscriberItem],
    *,
    exclude_user_id: str | None = None,
    also_connection_id: str | None = None,
    only_username: str | None = None,
) -> tuple[list[str], list[str]]:
    """Who a room's frame goes to: every live subscriber but `exclude_user_id`'s sockets
    (only `only_username`'s, for a private message's frames), and `also_connection_id`
    (first); and the subscribers left out for an expired token."""
    now = time.time()
    if only_username is not None:
        subscribers = [s for s in subscribers if s["username"] == only_username]
    expired = [s["connection_id"] for s in subscribers if token_expired(s, now)]
    ids = [
        s["connection_id"]
        for s in subscribers
        if not token_expired(s, now) and s["user_id"] != exclude_user_id
    ]
    if also_connection_id:
        ids.insert(0, also_connection_id)
    return list(dict.fromkeys(ids)), [cid for cid in expired if cid != also_connection_id]
