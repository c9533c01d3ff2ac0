"""connections table (pk, sk), every item with an `expires_at` TTL:

- `CONN#<id>` / `META`: the connection's user;
- `CONN#<id>` / `ROOM#<room>`: a room this connection follows (to clean up on disconnect);
- `ROOM#<room>` / `CONN#<id>`: the same subscription seen from the room, so a room's
  subscribers are one Query.

API Gateway closes a connection after 2 hours and $disconnect is best-effort, so records
expire; DynamoDB's TTL deletes lazily, so every read here also drops expired items.
"""

from __future__ import annotations

import time
from typing import Any, cast

from boto3.dynamodb.conditions import Attr, Key

from chat.dal.items import ConnectionItem, SubscriberItem
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


def put_connection(connection_id: str, user_id: str, username: str, connected_at: str) -> None:
    table("connections").put_item(
        Item={
            "pk": _conn(connection_id),
            "sk": _META,
            "connection_id": connection_id,
            "user_id": user_id,
            "username": username,
            "connected_at": connected_at,
            "expires_at": int(time.time()) + CONNECTION_LIFETIME_SECONDS,
        }
    )


def subscribe(connection: SubscriberItem, room_id: str) -> bool:
    """Subscribe a live connection to a room; False if the connection is gone."""
    name = table_name("connections")
    connection_id = connection["connection_id"]
    base = {
        "user_id": connection["user_id"],
        "username": connection["username"],
        "expires_at": connection["expires_at"],
    }
    codes = transact(
        [
            {
                "ConditionCheck": {
                    "TableName": name,
                    "Key": {"pk": _conn(connection_id), "sk": _META},
                    "ConditionExpression": "attribute_exists(pk)",
                }
            },
            {
                "Put": {
                    "TableName": name,
                    "Item": {
                        "pk": _conn(connection_id),
                        "sk": _room(room_id),
                        "room_id": room_id,
                        **base,
                    },
                }
            },
            {
                "Put": {
                    "TableName": name,
                    "Item": {
                        "pk": _room(room_id),
                        "sk": _conn(connection_id),
                        "connection_id": connection_id,
                        **base,
                    },
                }
            },
        ]
    )
    return codes is None


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


def room_subscribers(room_id: str) -> list[SubscriberItem]:
    """Live subscriptions of a room: one Query."""
    items = query_all(
        "connections", KeyConditionExpression=Key("pk").eq(_room(room_id)), FilterExpression=_live()
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
    return cast(ConnectionItem | None, meta), rooms
