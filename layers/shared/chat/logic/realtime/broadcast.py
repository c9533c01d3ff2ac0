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

import math
import time
from collections.abc import Callable, Sequence

from aws_lambda_powertools.metrics import MetricUnit

from chat.adapters import big_rooms_settings, fanout_queue
from chat.dal import connections as connection_table
from chat.dal import fanout_shards
from chat.dal.connections import SubscriberPage
from chat.frames import ServerFrame
from chat.ids import new_id
from chat.logic.realtime import fanout, shards
from chat.observability import metrics
from chat.queued_shard import QueuedShard, slot_of, slot_range

SLICE = 4 * fanout.PUSH_POOL_SIZE  # pushes between two looks at the clock
# A slice takes at most a few seconds (two attempts of a push, each with its timeouts):
# with less time left, the rest of a shard is left for the record's next delivery.
STOP_BEFORE_SECONDS = 15.0
MAX_SPREAD_SECONDS = 4.0  # a spread frame's last bucket waits at most this (the pacer's most)
# API Gateway's account throttle is a token bucket holding half a second of its rate (a burst
# of 5,000 at the default 10,000/s): that many pushes may go at once.
BURST_SECONDS = 0.5
# The least a push's round trip takes (API Gateway's answer, from a function in its region):
# a bucket's rounds of pushes take at least this each, which the spread counts on.
PUSH_FLOOR_SECONDS = 0.01
# A room's size estimated from its first page (its slots' density) is spread as for this
# many standard deviations more than the estimate (in 1 case of 40 the room is bigger).
ESTIMATE_DEVIATIONS = 2.0

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
    recipients = len(plan.inline) + plan.queued
    starts = _starts(recipients, plan.buckets, spread, config.send_budget_per_second)
    broadcast_id = new_id()
    queued = [
        QueuedShard(
            f"{broadcast_id}.{bucket}",
            room_id,
            bucket,
            tuple(ids),
            data,
            not_before=starts[bucket],
            buckets=plan.buckets,
        )
        for bucket, ids in plan.shards.items()
    ]
    return _queue_and_push(queued, plan.inline, data, [len(ids) for ids in plan.shards.values()])


def send_to_slots(
    room_id: str,
    page: SubscriberPage,
    frame: ServerFrame,
    *,
    first: str | None = None,
    exclude_user_id: str | None = None,
    spread: Spread = 0.0,
) -> fanout.FanOut:
    """Push a frame to a room of which only the first page of subscribers was read (one
    that had more): the room's size is estimated from the page, its slots split into that
    many buckets (``shards.buckets``); this function pushes ``first`` and bucket 0 (from the
    page, read further if the page stopped short of its end) and queues every other bucket
    as a range of slots, spread as ``send`` spreads. The result's ``expired`` are bucket 0's
    subscribers skipped for an expired token; ``queued`` is the most the other buckets are
    likely to hold (the estimate's upper bound: a bot answer's pace is sized from it)."""
    config = big_rooms_settings.current()
    data = frame.encode()
    estimate = page.estimate()
    count = shards.buckets(estimate, config.fanout_shard_size)
    _, last = slot_range(0, count)
    own = [s for s in page.subscribers if slot_of(s["connection_id"]) <= last]
    if page.last_slot <= last:  # the page stopped inside bucket 0: read the rest of it
        own += connection_table.subscribers_in_slots(
            room_id, page.last_slot, last, after=page.after
        )
    ids, expired = fanout.recipients(own, exclude_user_id=exclude_user_id, also_connection_id=first)
    # spread as for the most the room is likely to hold: never over the budget
    most = page.estimate(deviations=ESTIMATE_DEVIATIONS)
    starts = _starts(most, count, spread, config.send_budget_per_second)
    broadcast_id = new_id()
    queued = [
        QueuedShard(
            f"{broadcast_id}.{bucket}",
            room_id,
            bucket,
            (),
            data,
            not_before=starts[bucket],
            buckets=count,
            slots=slot_range(bucket, count),
            exclude_user_id=exclude_user_id,
            skip=(first,) if first else (),
        )
        for bucket in range(1, count)
    ]
    rest = max(0, most - len(ids))  # the other buckets' share of the most, in whole ones
    sizes = [rest // len(queued) + (bucket < rest % len(queued)) for bucket in range(len(queued))]
    result = _queue_and_push(queued, ids, data, sizes)
    result.expired = expired
    return result


def first_page(room_id: str, *, consistent: bool = False) -> SubscriberPage:
    """The subscribers a frame to a room is pushed from: the room's first page, all of it up
    to the threshold or enough for ``send_to_slots`` above it (one Query of one page); the
    whole room where this function has no fan-out queue."""
    if not fanout_queue.available():
        subscribers = connection_table.room_subscribers(room_id, consistent=consistent)
        return SubscriberPage(subscribers, complete=True)
    limit = big_rooms_settings.current().fanout_shard_threshold + 1
    return connection_table.first_subscribers(room_id, limit, consistent=consistent)


def _starts(recipients: int, buckets: int, spread: Spread, budget: float) -> list[float | None]:
    """When each bucket's pushes may begin (epoch seconds; None: at once)."""
    seconds = max(
        spread(recipients) if callable(spread) else spread,
        message_spread(recipients, budget, buckets),
    )
    now = time.time()
    return [now + seconds * bucket / buckets if seconds else None for bucket in range(buckets)]


def _queue_and_push(
    queued: list[QueuedShard], inline: list[str], data: bytes, sizes: list[int]
) -> fanout.FanOut:
    """Queue the shards (on the push pool) while pushing to ``inline``; a shard SQS did not
    take is pushed here (a range of slots read first). ``sizes``: each shard's recipients
    (an estimate for a range)."""
    queueing = fanout.pool().submit(fanout_queue.send, queued)
    result = fanout.push(inline, data)
    unsent = {shard.shard_id for shard in queueing.result()}
    metrics.add_metric(
        name="FanoutShardsQueued", unit=MetricUnit.Count, value=len(queued) - len(unsent)
    )
    for shard, size in zip(queued, sizes, strict=True):
        if shard.shard_id not in unsent:
            result.queued += size
            continue
        ids, expired = _connections_of(shard)
        result.add(fanout.push(ids, data))
        result.expired += expired
    result.recipients += result.queued
    return result


def _connections_of(shard: QueuedShard) -> tuple[list[str], list[str]]:
    """A shard's connections, and those left out for an expired token (a range's)."""
    if shard.slots is None:
        return list(shard.connection_ids), []
    found = connection_table.subscribers_in_slots(shard.room_id, *shard.slots)
    ids, expired = fanout.recipients(found, exclude_user_id=shard.exclude_user_id)
    skip = set(shard.skip)
    return [c for c in ids if c not in skip], [c for c in expired if c not in skip]


def message_spread(recipients: int, budget: float, buckets: int) -> float:
    """Seconds over which a frame to ``recipients`` connections in ``buckets`` is spread so
    that its pushes keep within the account's ``budget`` (pushes per second): what the token
    bucket's burst cannot take at once (plus a bucket's worth, for buckets of uneven size),
    at the budget's rate, less the time a bucket's own pushes take at the least (its rounds
    of ``PUSH_POOL_SIZE`` pushes, each round at least ``PUSH_FLOOR_SECONDS``), until the last
    bucket begins (0 for a frame the burst takes whole)."""
    per_bucket = recipients / buckets
    rounds = math.ceil(per_bucket / fanout.PUSH_POOL_SIZE)
    over = (recipients + per_bucket) / budget - BURST_SECONDS - (rounds - 1) * PUSH_FLOOR_SECONDS
    if over <= 0 or buckets < 2:
        return 0.0
    return min(MAX_SPREAD_SECONDS, over * buckets / (buckets - 1))


def deliver(shard: QueuedShard, time_left: Callable[[], float]) -> fanout.FanOut | None:
    """Push a queued shard unless it was pushed already (None then); ``time_left``: seconds
    left in the invocation. A range of slots is read once claimed, before the shard's turn
    in a spread frame (its subscribers left out for an expired token are the result's
    ``expired``). The result's ``queued`` counts the connections left pending for the
    record's next delivery (throttled, or no time left)."""
    claim = fanout_shards.claim(shard.shard_id, lease_seconds=time_left())
    if not claim.claimed:
        metrics.add_metric(name="FanoutShardsSkipped", unit=MetricUnit.Count, value=1)
        return None
    result = fanout.FanOut()
    if claim.remaining is not None:
        ids = claim.remaining
    else:
        ids, result.expired = _connections_of(shard)
    if shard.not_before is not None:  # its part of a spread frame
        time.sleep(max(0.0, min(shard.not_before - time.time(), MAX_SPREAD_SECONDS)))
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
