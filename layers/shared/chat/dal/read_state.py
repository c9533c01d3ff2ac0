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

from typing import Any

from chat import aws
from chat.dal.items import MembershipItem
from chat.dal.tables import table_name, update_if

_BATCH_GET_MAX = 100
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
    client = aws.dynamodb_resource()
    name = table_name("memberships")
    found: dict[str, MembershipItem] = {}
    for start in range(0, len(room_ids), _BATCH_GET_MAX):
        keys = [
            {"room_id": r, "user_id": user_id} for r in room_ids[start : start + _BATCH_GET_MAX]
        ]
        request: dict[str, Any] = {name: {"Keys": keys}}
        while request:
            response = client.batch_get_item(RequestItems=request)
            for item in response["Responses"].get(name, []):
                found[item["room_id"]] = item
            request = response.get("UnprocessedKeys") or {}
    return found


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
    kwargs: dict[str, Any] = {
        "TableName": table_name("messages"),
        "KeyConditionExpression": condition,
        # others' messages, and of private ones only the reader's (a bot's answer to them)
        "FilterExpression": "username <> :reader AND "
        "(attribute_not_exists(visible_to) OR visible_to = :reader)",
        "ExpressionAttributeValues": values,
        "Select": "COUNT",
    }
    count = 0
    while count < cap:
        response = client.query(Limit=cap - count, **kwargs)
        count += response["Count"]
        if "LastEvaluatedKey" not in response:
            break
        kwargs["ExclusiveStartKey"] = response["LastEvaluatedKey"]
    return min(count, cap)


def count_unread_many(requests: list[tuple[str, str | None]], reader: str, cap: int) -> list[int]:
    """`count_unread` for several (room_id, after) pairs, run in parallel."""
    if len(requests) <= 1:
        return [count_unread(room_id, after, reader, cap) for room_id, after in requests]
    pool = aws.thread_pool("unread", _COUNT_WORKERS)
    return list(
        pool.map(lambda request: count_unread(request[0], request[1], reader, cap), requests)
    )
