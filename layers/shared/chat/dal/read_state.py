"""Read state: the read pointer on the membership item, and unread counts from the
messages table.

- `last_read_message_id` on a membership only moves forwards (a conditional update).
- An unread count is one COUNT Query over the room's messages after the pointer, with a
  filter leaving out the reader's own ones. DynamoDB applies `Limit` to the items it
  reads, before the filter, so the Query pages on until it has counted `cap` matches or
  reached the end: the count is exact up to `cap`. A page reads at most `cap` items, so a
  room costs one call unless the reader wrote many of the messages after their pointer.
"""

from __future__ import annotations

from typing import Any, cast

from chat import aws
from chat.dal.items import MembershipItem
from chat.dal.tables import batch_get, count_query, table_name, update_if

_COUNT_WORKERS = 8  # below the client's 10 pooled connections


def advance_read_pointer(room_id: str, user_id: str, message_id: str) -> bool:
    """Set the member's read pointer to `message_id` unless it already points there or
    later; False when nothing changed (or the membership is gone)."""
    return update_if(
        "memberships",
        Key={"room_id": room_id, "user_id": user_id},
        UpdateExpression="SET last_read_message_id = :m",
        ConditionExpression="attribute_exists(room_id) AND "
        "(attribute_not_exists(last_read_message_id) OR last_read_message_id < :m)",
        ExpressionAttributeValues={":m": message_id},
    ).written


def memberships_of(user_id: str, room_ids: list[str]) -> dict[str, MembershipItem]:
    """The user's membership items in these rooms, by room id (BatchGetItem, 100 a call)."""
    keys = [{"room_id": room_id, "user_id": user_id} for room_id in dict.fromkeys(room_ids)]
    items = batch_get("memberships", keys)
    return {item["room_id"]: cast(MembershipItem, item) for item in items}


def count_unread(room_id: str, after: str | None, reader: str, cap: int) -> int:
    """Messages of the room stored after `after` (all, if None) that `reader` did not
    write and may see, counted up to `cap`."""
    # The resource's own client: thread-safe, and it still takes Python values.
    client = aws.dynamodb_resource().meta.client
    condition = "room_id = :room"
    values: dict[str, Any] = {":room": room_id, ":reader": reader}
    if after:
        condition += " AND message_id > :after"
        values[":after"] = after
    return count_query(
        client,
        cap,
        TableName=table_name("messages"),
        KeyConditionExpression=condition,
        # others' messages, and of private ones only the reader's (a bot's answer to them)
        FilterExpression="username <> :reader AND "
        "(attribute_not_exists(visible_to) OR visible_to = :reader)",
        ExpressionAttributeValues=values,
    )


def count_unread_many(requests: list[tuple[str, str | None]], reader: str, cap: int) -> list[int]:
    """`count_unread` for several (room_id, after) pairs, run in parallel."""
    if len(requests) <= 1:
        return [count_unread(room_id, after, reader, cap) for room_id, after in requests]
    pool = aws.thread_pool("unread", _COUNT_WORKERS)
    return list(
        pool.map(lambda request: count_unread(request[0], request[1], reader, cap), requests)
    )
