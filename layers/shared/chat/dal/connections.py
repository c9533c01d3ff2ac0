"""connections table (pk, sk), every item with an `expires_at` TTL:

- `CONN#<id>` / `META`: the connection's user;
- `CONN#<id>` / `ROOM#<room>`: a room this connection follows (to clean up on disconnect);
- `ROOM#<room>` / `CONN#<slot>#<id>`: the same subscription seen from the room, so a room's
  subscribers are one Query; ``slot`` (three hex digits) is a hash of the connection id
  among ``SLOTS`` (chat.queued_shard), so that a big room's broadcast reads its
  subscribers in slot ranges, one per fan-out shard, and the first page alone tells how big
  the room is (``first_subscribers``);
- `USER#<user>` / `CONN#<id>`: the connection seen from its user, with the token it opened
  with (its id, generation and expiry): a user's open connections (are they online anywhere?
  where do their own frames go? which sockets does a revocation close?) are one Query.

API Gateway closes a connection after 2 hours and $disconnect is best-effort, so records
expire; DynamoDB's TTL deletes lazily, so every read here also drops expired items.
"""

from __future__ import annotations

import math
import time
from typing import Any, Literal, NamedTuple, cast

from boto3.dynamodb.conditions import Attr, Key

from chat.dal.items import ConnectionItem, SubscriberItem, UserConnectionItem
from chat.dal.tables import query_all, table, table_name, transact
from chat.queued_shard import SLOTS, slot_of

# API Gateway's maximum connection duration, plus a margin.
CONNECTION_LIFETIME_SECONDS = 2 * 3600 + 300
_META = "META"


def _conn(connection_id: str) -> str:
    return f"CONN#{connection_id}"


def _room(room_id: str) -> str:
    return f"ROOM#{room_id}"


def _user(user_id: str) -> str:
    return f"USER#{user_id}"


def _subscriber(connection_id: str) -> str:
    """A subscription's sort key under its room: its slot, then its connection id."""
    return f"CONN#{slot_of(connection_id):03x}#{connection_id}"


def _slot_of_key(sort_key: str) -> int:
    return int(sort_key[5:8], 16)


def _live() -> Any:
    return Attr("expires_at").gt(int(time.time()))


def expires_at(connected_at_ms: int) -> int:
    """When the records of a connection opened at `connected_at_ms` (epoch ms, as API
    Gateway's `connectedAt`; 0: now) expire."""
    opened = connected_at_ms // 1000 if connected_at_ms else int(time.time())
    return opened + CONNECTION_LIFETIME_SECONDS


def put_connection(connection: ConnectionItem) -> None:
    """Record a connection, and the same under its user with the token it opened with (one
    BatchWriteItem)."""
    connection_id = connection["connection_id"]
    by_user: dict[str, Any] = {
        "pk": _user(connection["user_id"]),
        "sk": _conn(connection_id),
        "connection_id": connection_id,
        "user_id": connection["user_id"],
        "expires_at": connection["expires_at"],
        "token_generation": connection.get("token_generation", 0),
    }
    for key in ("token_id", "token_expires_at"):
        if connection.get(key) is not None:
            by_user[key] = connection[key]
    with table("connections").batch_writer() as batch:
        batch.put_item(Item={"pk": _conn(connection_id), "sk": _META, **connection})
        batch.put_item(Item=by_user)


def user_connections(user_id: str) -> list[UserConnectionItem]:
    """A user's open connections (one consistent Query, expired records left out: a
    connection recorded just before a revocation must be seen by it)."""
    items = query_all(
        "connections",
        KeyConditionExpression=Key("pk").eq(_user(user_id)),
        FilterExpression=_live(),
        ConsistentRead=True,
    )
    return cast(list[UserConnectionItem], items)


Subscribed = Literal["subscribed", "connection_gone", "not_a_member"]


def subscribe(connection: SubscriberItem, room_id: str) -> Subscribed:
    """Subscribe a live connection to a room its user is a member of, both checked in the
    write itself: a join racing the user's removal either lands first (and the removal's
    unsubscribing finds it) or fails here, so a removed member is never left subscribed.

    ``connection`` carries ``token_expires_at`` (epoch seconds, or None): the fan-out
    skips a subscription whose token has expired."""
    name = table_name("connections")
    connection_id = connection["connection_id"]
    checks = [
        {
            "ConditionCheck": {
                "TableName": name,
                "Key": {"pk": _conn(connection_id), "sk": _META},
                "ConditionExpression": "attribute_exists(pk)",
            }
        },
        {
            "ConditionCheck": {
                "TableName": table_name("memberships"),
                "Key": {"room_id": room_id, "user_id": connection["user_id"]},
                "ConditionExpression": "attribute_exists(user_id)",
            }
        },
    ]
    codes = transact(
        checks
        + [
            {"Put": {"TableName": name, "Item": item}}
            for item in _subscription(connection, room_id)
        ]
    )
    if codes is None:
        return "subscribed"
    if codes[0] == "ConditionalCheckFailed":
        return "connection_gone"
    if len(codes) > 1 and codes[1] == "ConditionalCheckFailed":
        return "not_a_member"
    raise RuntimeError(f"could not subscribe ({', '.join(codes)})")


def _subscription(connection: SubscriberItem, room_id: str) -> list[dict[str, Any]]:
    """The two items of a subscription: the room under the connection (to clean up on
    disconnect), the connection under the room (a room's subscribers are one Query)."""
    connection_id = connection["connection_id"]
    base: dict[str, Any] = {
        "user_id": connection["user_id"],
        "username": connection["username"],
        "expires_at": connection["expires_at"],
    }
    token_expires_at = connection.get("token_expires_at")
    if token_expires_at is not None:
        base["token_expires_at"] = int(token_expires_at)
    return [
        {"pk": _conn(connection_id), "sk": _room(room_id), "room_id": room_id, **base},
        {
            "pk": _room(room_id),
            "sk": _subscriber(connection_id),
            "connection_id": connection_id,
            **base,
        },
    ]


def unsubscribe(connection_id: str, room_id: str) -> None:
    name = table_name("connections")
    transact(
        [
            {
                "Delete": {
                    "TableName": name,
                    "Key": {"pk": _conn(connection_id), "sk": _room(room_id)},
                }
            },
            {
                "Delete": {
                    "TableName": name,
                    "Key": {"pk": _room(room_id), "sk": _subscriber(connection_id)},
                }
            },
        ]
    )


# A subscriber's attributes, without the keys (which repeat the room and the connection id):
# in a room of 10,000 a third fewer bytes to read, and to parse (botocore parses every
# attribute of every item: ~40 µs an item, the largest cost of a big room's broadcast).
_SUBSCRIBER = ("connection_id", "user_id", "username", "expires_at", "token_expires_at")


def _subscriber_query(**kwargs: Any) -> dict[str, Any]:
    return {
        "FilterExpression": _live(),
        # as names: a projection must not spell a word DynamoDB reserves
        "ProjectionExpression": ", ".join(f"#a{i}" for i in range(len(_SUBSCRIBER))),
        "ExpressionAttributeNames": {f"#a{i}": name for i, name in enumerate(_SUBSCRIBER)},
        **kwargs,
    }


def room_subscribers(room_id: str, *, consistent: bool = False) -> list[SubscriberItem]:
    """Live subscriptions of a room: one Query; ``consistent`` where a subscription written
    just before must be seen."""
    items = query_all(
        "connections",
        **_subscriber_query(
            KeyConditionExpression=Key("pk").eq(_room(room_id)), ConsistentRead=consistent
        ),
    )
    return cast(list[SubscriberItem], items)


class SubscriberPage(NamedTuple):
    """The first subscriptions of a room in slot order: all of them (``complete``), or
    ``read`` of them (expired ones counted) up to and including slot ``last_slot``, and
    ``after``, where the rest of the room begins."""

    subscribers: list[SubscriberItem]
    complete: bool
    read: int = 0
    last_slot: int = SLOTS - 1
    after: dict[str, Any] | None = None

    def estimate(self, *, deviations: float = 0.0) -> int:
        """The room's subscriptions, as the density of the slots read suggests; with
        ``deviations``, that many standard deviations more (the slots hold a binomial count:
        about ``1 / sqrt(read)`` of the estimate each), a bound it is unlikely to be over."""
        if self.complete:
            return len(self.subscribers)
        estimate = self.read * SLOTS / (self.last_slot + 1)
        return max(self.read + 1, round(estimate * (1 + deviations / math.sqrt(self.read))))


def first_subscribers(room_id: str, limit: int, *, consistent: bool = False) -> SubscriberPage:
    """A room's first ``limit`` subscriptions in slot order (one Query of one page): the
    whole room when it has no more, else enough to tell its size."""
    response = table("connections").query(
        **_subscriber_query(
            KeyConditionExpression=Key("pk").eq(_room(room_id)),
            Limit=limit,
            ConsistentRead=consistent,
        )
    )
    items = cast(list[SubscriberItem], response["Items"])
    after = response.get("LastEvaluatedKey")
    if after is None:
        return SubscriberPage(items, complete=True, read=response.get("ScannedCount", len(items)))
    return SubscriberPage(
        items,
        complete=False,
        read=response.get("ScannedCount", len(items)),
        last_slot=_slot_of_key(after["sk"]),
        after=after,
    )


def subscribers_in_slots(
    room_id: str, first: int, last: int, *, after: dict[str, Any] | None = None
) -> list[SubscriberItem]:
    """Live subscriptions of a room whose slot is ``first`` to ``last`` (inclusive): one
    Query; ``after``: a page's `LastEvaluatedKey` to go on from."""
    key = Key("pk").eq(_room(room_id)) & Key("sk").between(
        f"CONN#{first:03x}#",
        f"CONN#{last:03x}$",  # "$" sorts right after "#"
    )
    kwargs: dict[str, Any] = {"KeyConditionExpression": key}
    if after is not None:
        kwargs["ExclusiveStartKey"] = after
    return cast(list[SubscriberItem], query_all("connections", **_subscriber_query(**kwargs)))


def remove_connection(connection_id: str) -> tuple[ConnectionItem | None, list[str]]:
    """Delete a connection and all its subscriptions.

    Returns the connection's META item (None if it was unknown) and the rooms it followed.
    """
    response = table("connections").query(KeyConditionExpression=Key("pk").eq(_conn(connection_id)))
    items = response["Items"]
    meta = next((item for item in items if item["sk"] == _META), None)
    rooms = [item["room_id"] for item in items if item["sk"] != _META]
    with table("connections").batch_writer() as batch:
        for item in items:
            batch.delete_item(Key={"pk": item["pk"], "sk": item["sk"]})
        for room_id in rooms:
            batch.delete_item(Key={"pk": _room(room_id), "sk": _subscriber(connection_id)})
        if meta is not None:
            batch.delete_item(Key={"pk": _user(meta["user_id"]), "sk": _conn(connection_id)})
    return cast(ConnectionItem | None, meta), rooms
