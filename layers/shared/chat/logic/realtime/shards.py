"""Planning a broadcast: which connections the pushing function serves itself, and which go
to the fan-out queue in shards. Pure: no I/O, so it is tested alone.

Up to ``threshold`` recipients, the function pushes to all of them (one invocation pushes a
few hundred in well under a second, and a queue would only add its latency). Above it, the
room's subscription slots (chat.queued_shard: a hash of the connection id) are split into
``buckets`` equal ranges, the smallest power of two (at least 2) that gives a bucket at
most ``shard_size`` connections: the function pushes to bucket 0 itself (and to the
sender's socket, first, for its ack), and every other bucket is one queue message, pushed
by a fan-out invocation of its own, all in parallel.

A sender that read the whole room (``plan``) puts each bucket's connections in its shard; a
sender that read only the room's first page (``buckets``, from the page's estimate of the
room) queues each bucket as a range of slots, which its fan-out invocation reads.

Frames reach each connection in the order they were sent: a bucket is a message group of the
FIFO fan-out queue (its frames are pushed one after the other), and a connection stays in
its bucket from frame to frame while the bucket count stays the same, that is while the
room stays within the same power of two of ``shard_size`` (a hash, not a position in the
room, so a join or a leave moves nobody else).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from chat.queued_shard import SLOTS, bucket_of


@dataclass(frozen=True)
class Plan:
    inline: list[str]  # pushed by the caller, in this order
    shards: dict[int, list[str]] = field(default_factory=dict)  # bucket -> its connections
    buckets: int = 1

    @property
    def queued(self) -> int:
        return sum(len(ids) for ids in self.shards.values())


def buckets(recipients: int, shard_size: int) -> int:
    """The bucket count of a sharded broadcast to about ``recipients``: the smallest power
    of two, at least 2 and at most ``SLOTS``, with at most ``shard_size`` in a bucket."""
    if shard_size < 1:
        raise ValueError("shard_size must be at least 1")
    count = 2
    while count < SLOTS and count * shard_size < recipients:
        count *= 2
    return count


def plan(
    connection_ids: Sequence[str],
    *,
    threshold: int,
    shard_size: int,
    first: str | None = None,
) -> Plan:
    """The plan for pushing to ``connection_ids`` (duplicates dropped, order kept); ``first``
    (the sender's socket) is put at the head, and pushed inline in any case."""
    if shard_size < 1 or threshold < 1:
        raise ValueError("threshold and shard_size must be at least 1")
    ids = list(dict.fromkeys([first, *connection_ids] if first else connection_ids))
    if len(ids) <= threshold:
        return Plan(inline=ids)
    count = buckets(len(ids), shard_size)
    inline = [first] if first else []
    shards: dict[int, list[str]] = {}
    for connection_id in ids:
        if connection_id == first:
            continue
        bucket = bucket_of(connection_id, count)
        if bucket == 0:
            inline.append(connection_id)
        else:
            shards.setdefault(bucket, []).append(connection_id)
    return Plan(inline=inline, shards=dict(sorted(shards.items())), buckets=count)
