"""connections table (pk, sk), every item with an `expires_at` TTL:

- `CONN#<id>` / `META`: the connection's user;
- `CONN#<id>` / `ROOM#<room>`: a room this connection follows (to clean up on disconnect);
- `ROOM#<room>` / `CONN#<id>`: the same subscription seen from the room, so a room's
  subscribers are one Query;
- `USER#<user>` / `CONN#<id>`: a user's connection and the token it opened with (its id and
  generation), so a revoked token's sockets are one Query away.

API Gateway closes a connection after 2 hours and $disconnect is best-effort, so records
expire; DynamoDB's TTL deletes lazily, so every read here also drops expired items.
"""

from __future__ import annotations

import time
from typing import Any, Literal, cast

from boto3.dynamodb.conditions import Attr, Key

from chat.dal.items import ConnectionItem, SubscriberItem, UserConnectionItem
from chat.dal.tables import query_all, table, table_name, transact

# API Gateway's maximum connection duration, plus a margin.
CONNECTION_LIFETIME_SECONDS = 2 * 3600 + 300
_META = "META"


def _conn(connection_id: str) -> str:
    return f"CONN#{connection_id}"


def _room(room_id: str) -> str:
    return f"ROOM#{room_id}"


def _live() -> Any:
    return Attr("expires_at").gt(int(time.time()))


def expires_at(connected_at_ms: int) -> int:
    """When the records of a connection opened at `connected_at_ms` (epoch ms, as API
    Gateway's `connectedAt`; 0: now) expire."""
    opened = connected_at_ms // 1000 if connected_at_ms else int(time.time())
    return opened + CONNECTION_LIFETIME_SECONDS


def _user(user_id: str) -> str:
    return f"USER#{user_id}"


def put_connection(connection: ConnectionItem) -> None:
    """Record a connection, and under its user with the token it opened with (a token
    without an id records no user item)."""
    connection_id = connection["connection_id"]
    with table("connections").batch_writer() as batch:
        batch.put_item(Item={"pk": _conn(connection_id), "sk": _META, **connection})
        token_id = connection.get("token_id")
        if token_id:
            batch.put_item(
                Item={
                    "pk": _user(connection["user_id"]),
                    "sk": _conn(connection_id),
                    "connection_id": connection_id,
                    "user_id": connection["user_id"],
                    "expires_at": connection["expires_at"],
                    "token_id": token_id,
                    "token_generation": connection.get("token_generation", 0),
                }
            )


def user_connections(user_id: str) -> list[UserConnectionItem]:
    """A user's live connections (one consistent Query: a connection recorded just before a
    revocation must be seen by it)."""
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
        {"pk": _room(room_id), "sk": _conn(connection_id), "connection_id": connection_id, **base},
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
                    "Key": {"pk": _room(room_id), "sk": _conn(connection_id)},
                }
            },
        ]
    )


def room_subscribers(room_id: str, *, consistent: bool = False) -> list[SubscriberItem]:
    """Live subscriptions of a room: one Query; ``consistent`` where a subscription written
    just before must be seen."""
    items = query_all(
        "connections",
        KeyConditionExpression=Key("pk").eq(_room(room_id)),
        FilterExpression=_live(),
        ConsistentRead=consistent,
    )
    return cast(list[SubscriberItem], items)


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
            batch.delete_item(Key={"pk": _room(room_id), "sk": _conn(connection_id)})
        if meta is not None and meta.get("token_id"):
            batch.delete_item(Key={"pk": _user(meta["user_id"]), "sk": _conn(connection_id)})
    return cast(ConnectionItem | None, meta), rooms
