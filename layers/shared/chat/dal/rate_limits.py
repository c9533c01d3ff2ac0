"""rate_limits table: fixed-window counters, one item per key and window, expiring by TTL."""

from __future__ import annotations

import time

from botocore.exceptions import ClientError

from chat.dal.tables import is_condition_failure, table


def hit(key: str, limit: int, window_seconds: int) -> int | None:
    """Count one hit against `key`; None if allowed, else seconds until the window resets.

    One conditional UpdateItem: concurrent callers can never push a window past `limit`.
    """
    now = int(time.time())
    window_start = now - now % window_seconds
    reset_at = window_start + window_seconds
    try:
        table("rate_limits").update_item(
            Key={"pk": f"{key}#{window_start}"},
            UpdateExpression="ADD hits :one SET expires_at = :expires",
            ConditionExpression="attribute_not_exists(hits) OR hits < :limit",
            ExpressionAttributeValues={":one": 1, ":limit": limit, ":expires": reset_at + 60},
        )
        return None
    except ClientError as exc:
        if is_condition_failure(exc):
            return max(1, reset_at - now)
        raise
