"""One shard of a big room's broadcast as the fan-out queue carries it, from the function that
pushes a frame to the fan-out function: one SQS FIFO message whose body is
``{"shard_id", "room_id", "bucket", "buckets", "frame", "not_before"?}`` and either
``"connections": [...]`` (the connections to push, when the sender read the whole room) or
``"slots": [first, last]`` (a range of the room's subscription slots: the fan-out function
reads them, leaving out ``"exclude_user"``'s sockets and the ``"skip"`` connections, which
the sender pushed itself).

A room's subscriptions are keyed by a hash slot of their connection id (``slot_of``, one of
``SLOTS``); a broadcast in ``buckets`` shards (a power of two) gives bucket ``b`` the slots
``slot_range(b, buckets)``, so a connection's bucket follows from its id alone
(``bucket_of``), whether the sender read the room or only its first page.

``frame`` is the frame exactly as it is pushed (its JSON text), so every shard of one
broadcast pushes the same bytes. The body is ASCII (every other character escaped): SQS
refuses a few characters (U+FFFE, U+FFFF) that a message may hold.

Messages are grouped by room, bucket count and bucket: a bucket's frames are pushed in the
order they were sent, while buckets and rooms run in parallel. ``shard_id`` (the
broadcast's id and the bucket) is the message's deduplication id, and names the shard for
its delivery marker (chat.dal.fanout_shards): a shard delivered once is never pushed again,
however often SQS hands it over. ``not_before`` (epoch seconds), when present, is the time
before which its pushes must not begin: a big frame's buckets are spread within the send
budget (chat.logic.realtime.broadcast).
"""

from __future__ import annotations

import json
import zlib
from dataclasses import dataclass
from typing import Any

SLOTS = 4096  # a room's subscription slots (three hex digits in their sort key)


def slot_of(connection_id: str) -> int:
    """The slot of a connection's subscriptions (the same in every process)."""
    return zlib.crc32(connection_id.encode("utf-8")) % SLOTS


def slot_range(bucket: int, buckets: int) -> tuple[int, int]:
    """The slots (first, last, inclusive) of ``bucket`` among ``buckets`` (a power of two,
    at most ``SLOTS``)."""
    width = SLOTS // buckets
    return bucket * width, (bucket + 1) * width - 1


def bucket_of(connection_id: str, buckets: int) -> int:
    """The bucket of a connection among ``buckets`` (a power of two, at most ``SLOTS``)."""
    return slot_of(connection_id) // (SLOTS // buckets)


@dataclass(frozen=True)
class QueuedShard:
    shard_id: str
    room_id: str
    bucket: int
    connection_ids: tuple[str, ...]  # the connections to push (none for a range of slots)
    frame: bytes  # the encoded frame (UTF-8 JSON), as pushed
    not_before: float | None = None  # epoch seconds
    buckets: int = 1  # the broadcast's shard count (its power of two)
    slots: tuple[int, int] | None = None  # or this range of the room's subscriptions
    exclude_user_id: str | None = None  # (a range) leaving out this user's sockets
    skip: tuple[str, ...] = ()  # (a range) and these connections

    @property
    def group_id(self) -> str:
        return f"{self.room_id}.{self.buckets}.{self.bucket}"

    @property
    def deduplication_id(self) -> str:
        return self.shard_id

    def body(self) -> str:
        fields: dict[str, Any] = {
            "shard_id": self.shard_id,
            "room_id": self.room_id,
            "bucket": self.bucket,
            "buckets": self.buckets,
            "frame": self.frame.decode("utf-8"),
        }
        if self.slots is None:
            fields["connections"] = list(self.connection_ids)
        else:
            fields["slots"] = list(self.slots)
            if self.exclude_user_id is not None:
                fields["exclude_user"] = self.exclude_user_id
            if self.skip:
                fields["skip"] = list(self.skip)
        if self.not_before is not None:
            fields["not_before"] = round(self.not_before, 3)
        return json.dumps(fields, separators=(",", ":"))

    @classmethod
    def from_body(cls, body: str) -> QueuedShard:
        """The shard of a queue message's body; KeyError, ValueError or TypeError when it
        is not one."""
        fields = json.loads(body)
        slots = fields.get("slots")
        if slots is None:
            connections = fields["connections"]
            if not isinstance(connections, list):
                raise TypeError("connections is not a list")
        else:
            connections = []
            if not isinstance(slots, list) or len(slots) != 2:
                raise TypeError("slots is not a range")
            first, last = int(slots[0]), int(slots[1])
            if not 0 <= first <= last < SLOTS:
                raise ValueError("slots out of range")
        skip = fields.get("skip", [])
        if not isinstance(skip, list):
            raise TypeError("skip is not a list")
        return cls(
            shard_id=str(fields["shard_id"]),
            room_id=str(fields["room_id"]),
            bucket=int(fields["bucket"]),
            connection_ids=tuple(str(c) for c in connections),
            frame=str(fields["frame"]).encode("utf-8"),
            not_before=None if fields.get("not_before") is None else float(fields["not_before"]),
            buckets=int(fields.get("buckets", 1)),
            slots=None if slots is None else (first, last),
            exclude_user_id=None
            if fields.get("exclude_user") is None
            else str(fields["exclude_user"]),
            skip=tuple(str(c) for c in skip),
        )

    def log_keys(self) -> dict[str, Any]:
        """The keys every log line about this shard carries."""
        if self.slots is not None:
            return {"shard_id": self.shard_id, "room_id": self.room_id, "slots": list(self.slots)}
        return {
            "shard_id": self.shard_id,
            "room_id": self.room_id,
            "connections": len(self.connection_ids),
        }
