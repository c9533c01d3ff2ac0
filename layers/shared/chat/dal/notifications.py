"""notifications table (pk, sk): what the notifications wing keeps per user.

- `MENTION#<user>` / `<message_id>`: a message that mentions the user (the mention inbox,
  newest first by message id), with its `room_id` and `room_member` (`<room>#<user>`), the
  key of the `by_room_member` index: a member's mentions in one room, for unread counts.
  Written in the transaction that stores the message (`mention_puts`), so a mention is
  in the inbox as soon as the message exists; an edit adds and removes entries, a deletion
  removes them.
- `LEVELS#<room>` / `ALL`: the members who chose `all` in a room (`users`, a string set of
  user ids, changed in the transaction that sets a level on the membership): the notifier
  reads it, and the memberships of those and of the mentioned members, never every member of
  a large room.
- `PUSH#<user>` / `<endpoint id>` (sha256 of the endpoint, hex): a Web Push subscription.
  `ENDPOINT#<endpoint id>` / `OWNER` names the user an endpoint belongs to: a browser that
  subscribes for another user stops receiving the first one's notifications.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import Any, cast

from boto3.dynamodb.conditions import Key
from botocore.exceptions import ClientError

from chat import aws
from chat.dal.items import MentionItem, PushSubscriptionItem
from chat.dal.tables import (
    count_query,
    is_condition_failure,
    query_all,
    table,
    table_name,
    transact,
)

BY_ROOM_MEMBER = "by_room_member"
_OWNER = "OWNER"
_COUNT_WORKERS = 8  # below the client's 10 pooled connections


def _inbox(user_id: str) -> str:
    return f"MENTION#{user_id}"


def _room_member(room_id: str, user_id: str) -> str:
    return f"{room_id}#{user_id}"


def _pushes(user_id: str) -> str:
    return f"PUSH#{user_id}"


def _endpoint(subscription_id: str) -> dict[str, str]:
    return {"pk": f"ENDPOINT#{subscription_id}", "sk": _OWNER}


def subscription_id(endpoint: str) -> str:
    """The id of a push endpoint (endpoints are long URLs; keys stay short)."""
    return hashlib.sha256(endpoint.encode("utf-8")).hexdigest()


# ------------------------------------------------------------------------------ mentions
def _mention(room_id: str, message_id: str, user_id: str) -> dict[str, Any]:
    return {
        "pk": _inbox(user_id),
        "sk": message_id,
        "room_id": room_id,
        "message_id": message_id,
        "room_member": _room_member(room_id, user_id),
    }


def mention_puts(room_id: str, message_id: str, user_ids: Sequence[str]) -> list[dict[str, Any]]:
    """The transaction items that put a message in these users' inboxes."""
    name = table_name("notifications")
    return [
        {"Put": {"TableName": name, "Item": _mention(room_id, message_id, user_id)}}
        for user_id in user_ids
    ]


def put_mentions(room_id: str, message_id: str, user_ids: Sequence[str]) -> None:
    if not user_ids:
        return
    with table("notifications").batch_writer() as batch:
        for user_id in user_ids:
            batch.put_item(Item=_mention(room_id, message_id, user_id))


def delete_mentions(message_id: str, user_ids: Sequence[str]) -> None:
    if not user_ids:
        return
    with table("notifications").batch_writer() as batch:
        for user_id in set(user_ids):
            batch.delete_item(Key={"pk": _inbox(user_id), "sk": message_id})


def mention_page(user_id: str, limit: int, before: str | None) -> tuple[list[MentionItem], bool]:
    """Up to `limit` inbox entries older than `before` (newest first), and whether there
    are more. One Query, asking for one more item than the page."""
    condition: Any = Key("pk").eq(_inbox(user_id))
    if before:
        condition &= Key("sk").lt(before)
    response = table("notifications").query(
        KeyConditionExpression=condition,
        ScanIndexForward=False,
        Limit=limit + 1,
        ProjectionExpression="room_id, message_id",
    )
    items = cast(list[MentionItem], response["Items"])
    return items[:limit], len(items) > limit


def recent_mentions(user_id: str, after: str | None, limit: int) -> tuple[list[MentionItem], bool]:
    """The user's inbox entries after message `after` (all, if None), newest first: up to
    `limit` (one Query), and whether that was all of them."""
    condition: Any = Key("pk").eq(_inbox(user_id))
    if after:
        condition &= Key("sk").gt(after)
    response = table("notifications").query(
        KeyConditionExpression=condition,
        ScanIndexForward=False,
        Limit=limit,
        ProjectionExpression="room_id, message_id",
    )
    return cast(list[MentionItem], response["Items"]), "LastEvaluatedKey" not in response


def count_mentions(room_id: str, user_id: str, after: str | None, cap: int) -> int:
    """A member's mentions in a room after message `after` (all, if None), up to `cap`:
    COUNT Queries on the index (usually one)."""
    client = aws.dynamodb_resource().meta.client  # thread-safe; still takes Python values
    condition = "room_member = :member"
    values: dict[str, Any] = {":member": _room_member(room_id, user_id)}
    if after:
        condition += " AND message_id > :after"
        values[":after"] = after
    return count_query(
        client,
        cap,
        TableName=table_name("notifications"),
        IndexName=BY_ROOM_MEMBER,
        KeyConditionExpression=condition,
        ExpressionAttributeValues=values,
    )


def count_mentions_many(
    user_id: str, requests: list[tuple[str, str | None]], cap: int
) -> list[int]:
    """`count_mentions` for several (room_id, after) pairs, run in parallel."""
    if len(requests) <= 1:
        return [count_mentions(room_id, user_id, after, cap) for room_id, after in requests]
    pool = aws.thread_pool("mentions", _COUNT_WORKERS)
    return list(pool.map(lambda r: count_mentions(r[0], user_id, r[1], cap), requests))


# ------------------------------------------------------------------------------ levels
def _levels(room_id: str) -> dict[str, str]:
    return {"pk": f"LEVELS#{room_id}", "sk": "ALL"}


def set_level(room_id: str, user_id: str, level: str) -> bool:
    """Set a member's level on their membership and keep the room's `all` set in step, at
    once; False (nothing written) when they are not a member."""
    change = "ADD" if level == "all" else "DELETE"
    codes = transact(
        [
            {
                "Update": {
                    "TableName": table_name("memberships"),
                    "Key": {"room_id": room_id, "user_id": user_id},
                    "UpdateExpression": "SET notifications = :level",
                    "ConditionExpression": "attribute_exists(room_id)",
                    "ExpressionAttributeValues": {":level": level},
                }
            },
            {
                "Update": {
                    "TableName": table_name("notifications"),
                    "Key": _levels(room_id),
                    "UpdateExpression": f"{change} #users :user",
                    "ExpressionAttributeNames": {"#users": "users"},
                    "ExpressionAttributeValues": {":user": {user_id}},
                }
            },
        ]
    )
    if codes is None:
        return True
    if codes[0] == "ConditionalCheckFailed":
        return False
    raise RuntimeError(f"could not set the level ({', '.join(codes)})")


def all_level_users(room_id: str) -> set[str]:
    """Who chose `all` in a room (members or not any more: the caller checks)."""
    item = table("notifications").get_item(Key=_levels(room_id)).get("Item") or {}
    return set(item.get("users") or ())


# ------------------------------------------------------------------------------ subscriptions
def subscriptions_of(user_id: str) -> list[PushSubscriptionItem]:
    items = query_all("notifications", KeyConditionExpression=Key("pk").eq(_pushes(user_id)))
    return cast(list[PushSubscriptionItem], items)


def endpoint_owner(subscription_id: str) -> str | None:
    item = table("notifications").get_item(Key=_endpoint(subscription_id)).get("Item")
    return item["user_id"] if item else None


def put_subscription(item: PushSubscriptionItem, previous_owner: str | None) -> None:
    """Store a subscription and claim its endpoint for its user, at once; the previous
    owner's subscription of that endpoint (when another user had it) goes in the same
    transaction."""
    name = table_name("notifications")
    user_id, sid = item["user_id"], item["subscription_id"]
    items: list[dict[str, Any]] = [
        {"Put": {"TableName": name, "Item": {"pk": _pushes(user_id), "sk": sid, **item}}},
        {"Put": {"TableName": name, "Item": {**_endpoint(sid), "user_id": user_id}}},
    ]
    if previous_owner and previous_owner != user_id:
        items.append(
            {"Delete": {"TableName": name, "Key": {"pk": _pushes(previous_owner), "sk": sid}}}
        )
    codes = transact(items)
    if codes is not None:
        raise RuntimeError(f"could not store the subscription ({', '.join(codes)})")


def get_subscription(user_id: str, subscription_id: str) -> PushSubscriptionItem | None:
    item = table("notifications").get_item(Key={"pk": _pushes(user_id), "sk": subscription_id})
    return cast(PushSubscriptionItem | None, item.get("Item"))


def delete_subscription(user_id: str, subscription_id: str) -> None:
    """Forget a user's subscription, then its endpoint's claim if that is still theirs."""
    notifications = table("notifications")
    notifications.delete_item(Key={"pk": _pushes(user_id), "sk": subscription_id})
    try:
        notifications.delete_item(
            Key=_endpoint(subscription_id),
            ConditionExpression="user_id = :user",
            ExpressionAttributeValues={":user": user_id},
        )
    except ClientError as exc:
        if not is_condition_failure(exc):  # another user's endpoint now: theirs to keep
            raise
