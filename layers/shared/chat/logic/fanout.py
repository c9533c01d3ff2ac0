"""Fan-out: push one frame to every connection subscribed to a room.

The subscribers come from one Query; the frame is serialised once; pushes run in parallel
on a bounded thread pool (the management client's connection pool is as large). A gone
connection (410/403) is handled as a disconnect (its records go, its user may go offline)
and nothing else is disturbed; any other failure of one push is logged and counted,
never raised.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit

from chat.adapters.push import ConnectionGone, post_to_connection
from chat.clients import PUSH_POOL_SIZE
from chat.dal import connections
from chat.observability import logger, metrics

MAX_FRAME_BYTES = 32 * 1024

_executor: ThreadPoolExecutor | None = None


def _pool() -> ThreadPoolExecutor:
    global _executor
    if _executor is None:
        _executor = ThreadPoolExecutor(max_workers=PUSH_POOL_SIZE, thread_name_prefix="push")
    return _executor


@dataclass
class FanOut:
    delivered: int = 0
    gone: list[str] = field(default_factory=list)
    failed: int = 0


def encode(frame: dict[str, Any]) -> bytes:
    return json.dumps(frame, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def _push(connection_id: str, data: bytes) -> str:
    try:
        post_to_connection(connection_id, data)
        return "delivered"
    except ConnectionGone:
        return "gone"
    except Exception:  # one bad push must not stop the others
        logger.exception("push failed", extra={"connection_id": connection_id})
        return "failed"


def _forget(connection_id: str) -> None:
    """Treat a gone connection as disconnected: its records go and, where it was its
    user's last socket in a room, the others hear `presence` offline. Its `$disconnect`
    may still come, but will find nothing left to announce, so this is the only chance."""
    from chat.logic import (
        presence as realtime,  # realtime pushes through this module: import at use
    )

    realtime.disconnect(connection_id)


def to_connections(connection_ids: Iterable[str], frame: dict[str, Any]) -> FanOut:
    """Push a frame to the given connections in parallel; clean up the gone ones."""
    data = encode(frame)
    ids = list(dict.fromkeys(connection_ids))
    result = FanOut()
    if not ids:
        return result
    outcomes = (
        [_push(ids[0], data)]
        if len(ids) == 1
        else list(_pool().map(lambda cid: _push(cid, data), ids))
    )
    for connection_id, outcome in zip(ids, outcomes, strict=True):
        if outcome == "delivered":
            result.delivered += 1
        elif outcome == "gone":
            result.gone.append(connection_id)
        else:
            result.failed += 1
    for connection_id in result.gone:
        _forget(connection_id)
    metrics.add_metric(name="FramesPushed", unit=MetricUnit.Count, value=result.delivered)
    if result.gone:
        metrics.add_metric(name="GoneConnections", unit=MetricUnit.Count, value=len(result.gone))
    if result.failed:
        metrics.add_metric(name="PushFailures", unit=MetricUnit.Count, value=result.failed)
    return result


def to_room(
    room_id: str,
    frame: dict[str, Any],
    *,
    exclude_connection_id: str | None = None,
    exclude_user_id: str | None = None,
    also_connection_id: str | None = None,
) -> FanOut:
    """Push a frame to every live subscriber of a room.

    `exclude_*` leave out one connection or all of one user's; `also_connection_id` adds
    a connection that may not be subscribed (a sender's own socket, for its ack).
    """
    ids = [
        s["connection_id"]
        for s in connections.room_subscribers(room_id)
        if s["connection_id"] != exclude_connection_id and s["user_id"] != exclude_user_id
    ]
    if also_connection_id:
        ids.append(also_connection_id)
    return to_connections(ids, frame)


def to_connection(connection_id: str, frame: dict[str, Any]) -> bool:
    return to_connections([connection_id], frame).delivered == 1
