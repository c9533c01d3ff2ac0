"""The delivery markers of the fan-out's shards, in the connections table (its TTL
attribute `expires_at` removes them): `SHARD#<shard id>` / `SHARD`, with `state`
(`claimed`, `pending` or `done`), `lease_until` (epoch seconds) while claimed, and
`remaining` (the connections still to push) once a delivery stopped short.

SQS hands a message over at least once (again when an invocation failed after pushing, or
even twice at once). A shard is pushed only by the invocation that claims it: the claim is
a conditional write that succeeds for a shard never seen, for one left `pending` (its
throttled pushes, or what an invocation had no time for), and for one whose claimer died
(its lease ran out: the function's timeout) without marking it. So a shard done is never
pushed again, one being pushed is not pushed twice at once, a pending one pushes only what
is left, and one whose pusher died is pushed again (at least once).
"""

from __future__ import annotations

import time
from typing import NamedTuple

from chat.dal.tables import table, update_if

# Longer than the fan-out queue keeps a message (template.yaml, FanoutQueue): any
# redelivery finds its shard's marker.
MARKER_SECONDS = 2 * 3600


class Claim(NamedTuple):
    claimed: bool  # False: done, or claimed by a live invocation: leave it
    remaining: list[str] | None  # the connections left to push; None: all of them


def _key(shard_id: str) -> dict[str, str]:
    return {"pk": f"SHARD#{shard_id}", "sk": "SHARD"}


def claim(shard_id: str, lease_seconds: float) -> Claim:
    """Claim a shard for pushing, for ``lease_seconds`` (the invocation's time left)."""
    now = int(time.time())
    update = update_if(
        "connections",
        Key=_key(shard_id),
        UpdateExpression="SET #state = :claimed, lease_until = :lease, expires_at = :expires",
        ConditionExpression="attribute_not_exists(pk) OR #state = :pending"
        " OR (#state = :claimed AND lease_until < :now)",
        ExpressionAttributeNames={"#state": "state"},
        ExpressionAttributeValues={
            ":claimed": "claimed",
            ":pending": "pending",
            ":lease": now + int(lease_seconds) + 1,
            ":expires": now + MARKER_SECONDS,
            ":now": now,
        },
        ReturnValues="ALL_OLD",
    )
    if not update.written:
        return Claim(False, None)
    remaining = (update.item or {}).get("remaining")
    return Claim(True, None if remaining is None else [str(c) for c in remaining])


def suspend(shard_id: str, remaining: list[str]) -> None:
    """Leave a claimed shard `pending` with the connections still to push: the next
    delivery pushes those only."""
    table("connections").put_item(
        Item={
            **_key(shard_id),
            "state": "pending",
            "remaining": remaining,
            "expires_at": int(time.time()) + MARKER_SECONDS,
        }
    )


def finish(shard_id: str) -> None:
    """Mark a shard done: no redelivery pushes it again."""
    table("connections").put_item(
        Item={
            **_key(shard_id),
            "state": "done",
            "expires_at": int(time.time()) + MARKER_SECONDS,
        }
    )
