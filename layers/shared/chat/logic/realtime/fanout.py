"""Fan-out: push one frame to many connections.

The frame is serialised once; pushes run in parallel on a bounded thread pool (the
management client's connection pool is as large). Any failure of one push is logged and
counted, never raised, and disturbs no other push. Gone connections (410/403) are only
reported: what a gone connection means (a disconnect) is presence's rule
(chat.logic.realtime.presence). A room's subscriber whose token has expired gets nothing
(docs/API.md: it receives no more frames); it is reported too, for presence to close.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from aws_lambda_powertools.metrics import MetricUnit

from chat.adapters.management_api import ConnectionGone, post_to_connection
from chat.aws import PUSH_POOL_SIZE, thread_pool
from chat.dal.items import SubscriberItem
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


def token_expired(subscriber: SubscriberItem, now: float) -> bool:
    """Whether the token a subscribed connection opened with has expired."""
    expires_at = subscriber.get("token_expires_at")
    return expires_at is not None and int(expires_at) <= now


def _push(connection_id: str, data: bytes) -> str:
    try:
        post_to_connection(connection_id, data)
        return "delivered"
    except ConnectionGone:
        return "gone"
    except Exception:  # one bad push must not stop the others
        logger.exception("push failed", extra={"connection_id": connection_id})
        return "failed"


# One trace subsegment per fan-out, not per push: the pushes are signed HTTP requests that
# X-Ray does not record as AWS calls (chat.aws.ManagementApi), and a room of 1000 would
# make a trace of 1000 subsegments. Only where the function has a tracer (the bot worker).
@capture_method
def to_connections(connection_ids: Iterable[str], frame: ServerFrame) -> FanOut:
    """Push a frame to the given connections in parallel; report what became of each."""
    data = frame.encode()
    ids = list(dict.fromkeys(connection_ids))
    result = FanOut()
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
        else:
            result.failed += 1
    metrics.add_metric(name="FramesPushed", unit=MetricUnit.Count, value=result.delivered)
    if result.gone:
        metrics.add_metric(name="GoneConnections", unit=MetricUnit.Count, value=len(result.gone))
    if result.failed:
        metrics.add_metric(name="PushFailures", unit=MetricUnit.Count, value=result.failed)
    return result


def to_subscribers(
    subscribers: Sequence[SubscriberItem],
    frame: ServerFrame,
    *,
    exclude_user_id: str | None = None,
    also_connection_id: str | None = None,
    only_username: str | None = None,
) -> FanOut:
    """Push a frame to a room's subscribers. `exclude_user_id` leaves out all of one user's
    sockets; `only_username` keeps only one user's (a private message's frames);
    `also_connection_id` adds a connection that may not be subscribed (a sender's own
    socket, for its ack). Subscribers whose token has expired are left out and reported in
    ``expired``."""
    now = time.time()
    if only_username is not None:
        subscribers = [s for s in subscribers if s["username"] == only_username]
    live = [s for s in subscribers if not token_expired(s, now)]
    expired = [s["connection_id"] for s in subscribers if token_expired(s, now)]
    ids = [s["connection_id"] for s in live if s["user_id"] != exclude_user_id]
    if also_connection_id:
        ids.append(also_connection_id)
    result = to_connections(ids, frame)
    result.expired = [cid for cid in expired if cid != also_connection_id]
    return result
