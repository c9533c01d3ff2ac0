"""One shard of a big room's broadcast as the fan-out queue carries it, from the function that
pushes a frame to the fan-out function: one SQS FIFO message whose body is
``{"shard_id", "room_id", "bucket", "connections": [...], "frame", "not_before"?}``.

``frame`` is the frame exactly as it is pushed (its JSON text), so every shard of one
broadcast pushes the same bytes. The body is ASCII (every other character escaped): SQS
refuses a few characters (U+FFFE, U+FFFF) that a message may hold.

Messages are grouped by room and bucket (chat.logic.realtime.shards): a bucket's frames are
pushed in the order they were sent, while buckets and rooms run in parallel. ``shard_id``
(the broadcast's id and the bucket) is the message's deduplication id, and names the shard
for its delivery marker (chat.dal.fanout_shards): a shard delivered once is never pushed
again, however often SQS hands it over. ``not_before`` (epoch seconds), when present, is
the time before which its pushes must not begin: a bot answer in a big room spreads each
frame's buckets over the time to its next frame (chat.logic.realtime.broadcast).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class QueuedShard:
    shard_id: str
    room_id: str
    bucket: int
    connection_ids: tuple[str, ...]
    frame: bytes  # the encoded frame (UTF-8 JSON), as pushed
    not_before: float | None = None  # epoch seconds

    @property
    def group_id(self) -> str:
        return f"{self.room_id}.{self.bucket}"

    @property
    def deduplication_id(self) -> str:
        return self.shard_id

    def body(self) -> str:
        fields: dict[str, Any] = {
            "shard_id": self.shard_id,
            "room_id": self.room_id,
            "bucket": self.bucket,
            "connections": list(self.connection_ids),
            "frame": self.frame.decode("utf-8"),
        }
        if self.not_before is not None:
            fields["not_before"] = round(self.not_before, 3)
        return json.dumps(fields, separators=(",", ":"))

    @classmethod
    def from_body(cls, body: str) -> QueuedShard:
        """The shard of a queue message's body; KeyError, ValueError or TypeError when it
        is not one."""
        fields = json.loads(body)
        connections = fields["connections"]
        if not isinstance(connections, list):
            raise TypeError("connections is not a list")
        return cls(
            shard_id=str(fields["shard_id"]),
            room_id=str(fields["room_id"]),
            bucket=int(fields["bucket"]),
            connection_ids=tuple(str(c) for c in connections),
            frame=str(fields["frame"]).encode("utf-8"),
            not_before=None if fields.get("not_before") is None else float(fields["not_before"]),
        )

    def log_keys(self) -> dict[str, Any]:
        """The keys every log line about this shard carries."""
        return {
            "shard_id": self.shard_id,
            "room_id": self.room_id,
            "connections": len(self.connection_ids),
        }
