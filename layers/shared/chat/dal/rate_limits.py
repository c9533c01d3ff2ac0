"""rate_limits table: sliding-window counters, one item per key, expiring by TTL.

A window of ``window_seconds`` is cut into ``SLOTS`` slots; the item holds one counter per
slot (attribute ``s<slot number>``). A hit is one conditional UpdateItem that adds 1 to the
current slot (refused when that slot alone is full), removes slots that have left the
window, and returns the item: the hit is allowed when the slots inside the window add up
to at most ``limit``. Every caller sees the counts including its own hit, and concurrent
callers each add to the same counters, so no interleaving lets more than ``limit`` hits in
any window through. Unlike a fixed window, a burst at a boundary does not get double: the
last window is always counted (to within one slot, conservatively).

Hits that are refused by ``hit`` still count (up to ``limit`` per slot): someone hammering
a limit stays limited until they stop. ``reserve`` counts a use before it happens and takes
a refused one back, and its ``release`` takes back a use that turned out not to count (a
login attempt whose password was right).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Any

from chat.dal.tables import update_if

SLOTS = 10


def _slot_length(window_seconds: int) -> float:
    return window_seconds / SLOTS


def _counts(item: dict[str, Any] | None, current: int) -> dict[int, int]:
    """Slot number -> hits, for the slots inside the window ending with ``current``."""
    counts: dict[int, int] = {}
    for name, value in (item or {}).items():
        if name.startswith("s") and name[1:].isdigit():
            slot = int(name[1:])
            if current - SLOTS < slot <= current:
                counts[slot] = int(value)
    return counts


def _retry_after(counts: dict[int, int], limit: int, window_seconds: int, now: float) -> int | None:
    """None while one more hit fits in the window; else seconds until it does."""
    total = sum(counts.values())
    if total < limit:
        return None
    length = _slot_length(window_seconds)
    for slot in sorted(counts):
        total -= counts[slot]
        if total < limit:
            leaves_at = (slot + SLOTS) * length  # when this slot drops out of the window
            return max(1, math.ceil(leaves_at - now))
    return max(1, math.ceil(window_seconds))  # pragma: no cover - the loop always returns


def _add(key: str, limit: int, window_seconds: int, now: float) -> tuple[bool, dict[int, int], int]:
    """Add 1 to the current slot (unless that slot alone is full) and drop the slots that
    left the window: (written, the slots inside the window, the current slot)."""
    current = int(now // _slot_length(window_seconds))
    stale = [f"s{slot}" for slot in range(current - 2 * SLOTS, current - SLOTS + 1)]
    names = {"#cur": f"s{current}", **{f"#old{i}": name for i, name in enumerate(stale)}}
    written, item = update_if(
        "rate_limits",
        Key={"pk": key},
        UpdateExpression="ADD #cur :one SET expires_at = :expires REMOVE "
        + ", ".join(f"#old{i}" for i in range(len(stale))),
        ConditionExpression="attribute_not_exists(#cur) OR #cur < :limit",
        ExpressionAttributeNames=names,
        ExpressionAttributeValues={
            ":one": 1,
            ":limit": limit,
            ":expires": int(now + window_seconds) + 60,
        },
        ReturnValues="ALL_NEW",
        # Refused: the item as it was, to tell when one more hit will fit.
        ReturnValuesOnConditionCheckFailure="ALL_OLD",
    )
    return written, _counts(item, current), current


def hit(key: str, limit: int, window_seconds: int) -> int | None:
    """Count one hit against `key`; None if allowed, else seconds until one more would be."""
    now = time.time()
    written, counts, _ = _add(key, limit, window_seconds, now)
    if written and sum(counts.values()) <= limit:
        return None
    return _retry_after(counts, limit, window_seconds, now) or 1


@dataclass(frozen=True)
class Reservation:
    """One use counted before it happens, in slot ``slot`` of the counter ``key``."""

    key: str
    slot: int


def reserve(key: str, limit: int, window_seconds: int) -> Reservation | int:
    """Count one use before it happens (e.g. a login attempt, before its password is
    checked): a Reservation when it fits in the window, to ``release`` if it turns out not
    to count; else the seconds until one would fit, with nothing counted.

    The hit is the same single update as ``hit``'s, so of concurrent callers only those
    whose hit still fits are let through: a burst gets no more uses than ``limit``. A
    refused hit is taken back at once, as if it had never come."""
    now = time.time()
    written, counts, current = _add(key, limit, window_seconds, now)
    if written and sum(counts.values()) <= limit:
        return Reservation(key, current)
    if written:
        release(Reservation(key, current))
    return _retry_after(counts, limit, window_seconds, now) or 1


def release(reservation: Reservation) -> None:
    """Take back a reserved use (its slot may have left the window meanwhile: then there
    is nothing to take back)."""
    update_if(
        "rate_limits",
        Key={"pk": reservation.key},
        UpdateExpression="ADD #slot :minus_one",
        ConditionExpression="#slot > :zero",
        ExpressionAttributeNames={"#slot": f"s{reservation.slot}"},
        ExpressionAttributeValues={":minus_one": -1, ":zero": 0},
    )
