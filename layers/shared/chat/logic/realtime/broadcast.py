"""A frame to a room's connections, however many: pushed by the caller, or, in a big room,
partly by the fan-out function through the fan-out queue (docs/big-rooms.md).

``send`` plans the broadcast (chat.logic.realtime.shards): up to the threshold every push is
the caller's, as in any room; above it the caller queues the other buckets' shards (on the
push pool, while it pushes) and pushes bucket 0 itself. A shard SQS did not take is pushed
by the caller too: a frame is never dropped for the queue's sake.

A sharded frame's pushes are spread over some time rather than sent in one burst, which API
Gateway's account throttle (a token bucket) would refuse in part: bucket ``b`` of ``B``
begins ``b / B`` of that time later (its shard's ``not_before``). Any frame is spread at
least over what the account's send budget needs for it (``message_spread``: what the
bucket's burst cannot take at once, at the budget's rate; about half a second for 10,000
connections at the default 10,000/s); a bot answer's frame asks for more (``spread``: the
time to its next frame, sized from the recipients once they are known).

``deliver`` is the fan-out function's part: one queued shard, pushed at most once however
often SQS hands it over (its marker, chat.dal.fanout_shards). Pushes API Gateway throttled
(the account's send rate), and what is left when the invocation nears its end, are not
dropped: the shard is left pending with those connections and its record fails (the
caller raises ``ShardIncomplete`` once the gone connections are dealt with); it comes back after a growing delay (2, 4, 8 … s) and pushes only them. The
bucket's later frames wait in its message group meanwhile, so each connection still gets
its frames in order.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence

from aws_lambda_powertools.metrics import MetricUnit

from chat.adapters import big_rooms_settings, fanout_queue
from chat.dal import fanout_shards
from chat.frames import ServerFrame
from chat.ids import new_id
from chat.logic.realtime import fanout, shards
from chat.observability import metrics
from chat.queued_shard import QueuedShard

SLICE = 4 * fanout.PUSH_POOL_SIZE  # pushes between two looks at the clock
# A slice takes at most a few seconds (two attempts of a push, each with its timeouts):
# with less time left, the rest of a shard is left for the record's next delivery.
STOP_BEFORE_SECONDS = 15.0
MAX_SPREAD_SECONDS = 4.0  # a spread frame's last bucket waits at most this (the pacer's most)
# API Gateway's account throttle is a token bucket holding half a second of its rate (a burst
# of 5,000 at the default 10,000/s): that many pushes may go at once.
BURST_SECONDS = 0.5

Spread = float | Callable[[int], float]  # seconds, or seconds for a number of recipients


class ShardIncomplete(Exception):
    """Some of a shard's connections are still to be pushed: its record must come back."""


def send(
    room_id: str,
    connection_ids: Sequence[str],
    frame: ServerFrame,
    *,
    first: str | None = None,
    spread: Spread = 0.0,
) -> fanout.FanOut:
    """Push a frame to a room's connections (``first``, a sender's socket, first), in
    shards through the queue above the threshold, spread over ``spread`` seconds (or
    ``spread(recipients)``) or what the send budget needs (``message_spread``), whichever is
    longer; what became of the pushes made here, and how many were handed to the queue."""
    if not fanout_queue.available():
        return fanout.to_connections([first, *connection_ids] if first else connection_ids, frame)
    config = big_rooms_settings.current()
    data = frame.encode()
    plan = shards.plan(
        connection_ids,
        threshold=config.fanout_shard_threshold,
        shard_size=config.fanout_shard_size,
        first=first,
    )
    if not plan.shards:
        return fanout.push(plan.inline, data)
    recipients, buckets = len(plan.inline) + plan.queued, max(plan.shards) + 1
    seconds = max(
        spread(recipients) if callable(spread) else spread,
        message_spread(recipients, config.send_budget_per_second, buckets),
    )
    broadcast_id, now = new_id(), time.time()
    queued = [
        QueuedShard(
            f"{broadcast_id}.{bucket}",
            room_id,
            bucket,
            tuple(ids),
            data,
            not_before=now + seconds * bucket / buckets if seconds else None,
        )
        for bucket, ids in plan.shards.items()
    ]
    queueing = fanout.pool().submit(fanout_queue.send, queued)
    result = fanout.push(plan.inline, data)
    unsent = queueing.result()
    metrics.add_metric(
        name="FanoutShardsQueued", unit=MetricUnit.Count, value=len(queued) - len(unsent)
    )
    result.queued = plan.queued - sum(len(s.connection_ids) for s in unsent)
    result.recipients += result.queued
    for shard in unsent:
        result.add(fanout.push(shard.connection_ids, data))
    return result


def message_spread(recipients: int, budget: float, buckets: int) -> float:
    """Seconds over which a frame to ``recipients`` connections in ``buckets`` is spread so
    that its pushes keep within the account's ``budget`` (pushes per second) even if each
    bucket's pushes went at once: what the token bucket's burst cannot take at once (less a
    bucket's worth, for buckets of uneven size), at the budget's rate, until the last bucket
    begins (0 for a frame the burst takes whole)."""
    over = (recipients + recipients / buckets) / budget - BURST_SECONDS
    if over <= 0 or buckets < 2:
        return 0.0
    return min(MAX_SPREAD_SECONDS, over * buckets / (buckets - 1))


def deliver(shard: QueuedShard, time_left: Callable[[], float]) -> fanout.FanOut | None:
    """Push a queued shard unless it was pushed already (None then); ``time_left``: seconds
    left in the invocation. The result's ``queued`` counts the connections left pending for
    the record's next delivery (throttled, or no time left)."""
    claim = fanout_shards.claim(shard.shard_id, lease_seconds=time_left())
    if not claim.claimed:
        metrics.add_metric(name="FanoutShardsSkipped", unit=MetricUnit.Count, value=1)
        return None
    if shard.not_before is not None:  # its part of a spread frame
        time.sleep(max(0.0, min(shard.not_before - time.time(), MAX_SPREAD_SECONDS)))
    ids = list(shard.connection_ids) if claim.remaining is None else claim.remaining
    result = fanout.FanOut()
    left: list[str] = []
    for start in range(0, len(ids), SLICE):
        if time_left() < STOP_BEFORE_SECONDS:
            left = ids[start:]
            break
        result.add(fanout.push(ids[start : start + SLICE], shard.frame))
    left = result.throttled + left
    if left:
        fanout_shards.suspend(shard.shard_id, left)
        result.queued = len(left)
        return result
    fanout_shards.finish(shard.shard_id)
    metrics.add_metric(name="FanoutShardsPushed", unit=MetricUnit.Count, value=1)
    return result
