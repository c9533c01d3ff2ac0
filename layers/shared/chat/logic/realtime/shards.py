"""Planning a broadcast: which connections the pushing function serves itself, and which go
to the fan-out queue in shards. Pure: no I/O, so it is tested alone.

Up to ``threshold`` recipients, the function pushes to all of them (one invocation pushes a
few hundred in well under a second, and a queue would only add its latency). Above it, the
room's connections are split into ``ceil(recipients / shard_size)`` buckets by a hash of
the connection id: the function pushes to bucket 0 itself (and to the sender's socket, first,
for its ack), and every other bucket is one queue message, pushed by a fan-out invocation of
its own, all in parallel.

Frames reach each connection in the order they were sent: a bucket is a message group of the
FIFO fan-out queue (its frames are pushed one after the other), and a connection stays in
its bucket from frame to frame while the room's size stays within the same multiple of
``shard_size`` (a hash, not a position in the room, so a join or a leave moves nobody else).
"""

from __future__ import annotations

import math
import zlib
from collections.abc import Sequence
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Plan:
    inline: list[str]  # pushed by the caller, in this order
    shards: dict[int, list[str]] = field(default_factory=dict)  # bucket -> its connections

    @property
    def queued(self) -> int:
        return sum(len(ids) for ids in self.shards.values())


def bucket_of(connection_id: str, buckets: int) -> int:
    """The bucket of a connection among ``buckets`` (the same in every process)."""
    return zlib.crc32(connection_id.encode("utf-8")) % buckets


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
    buckets = math.ceil(len(ids) / shard_size)
    if len(ids) <= threshold or buckets < 2:
        return Plan(inline=ids)
    inline = [first] if first else []
    shards: dict[int, list[str]] = {}
    for connection_id in ids:
        if connection_id == first:
            continue
        bucket = bucket_of(connection_id, buckets)
        if bucket == 0:
            inline.append(connection_id)
        else:
            shards.setdefault(bucket, []).append(connection_id)
    return Plan(inline=inline, shards=dict(sorted(shards.items())))
