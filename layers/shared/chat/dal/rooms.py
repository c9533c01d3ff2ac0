"""rooms table: `ROOM#<id>` holds the room and its bot settings; `CODE#<code>` claims a
join code. memberships table: (room_id, user_id), with the `by_user` index for "my rooms"."""

from __future__ import annotations

from typing import Any

from boto3.dynamodb.conditions import Key
from botocore.exceptions import ClientError

from chat import clients
from chat.dal.tables import (
    is_condition_failure,
    query_all,
    strip_none,
    table,
    table_name,
    transact,
    update_expression,
)
from chat.errors import Conflict

_BATCH_GET_MAX = 100


def _room_key(room_id: str) -> dict[str, str]:
    return {"pk": f"ROOM#{room_id}"}


def _code_key(code: str) -> dict[str, str]:
    return {"pk": f"CODE#{code.upper()}"}


def create_room(room: dict[str, Any], members: list[dict[str, Any]]) -> bool:
    """Store a room, its code claim and its first members at once.

    False when the join code is already taken (the caller draws another one).
    """
    rooms, memberships = table_name("rooms"), table_name("memberships")
    condition = "attribute_not_exists(pk)"
    items: list[dict[str, Any]] = [
        {
            "Put": {
                "TableName": rooms,
                "Item": {**_room_key(room["room_id"]), **strip_none(room)},
                "ConditionExpression": condition,
            }
        },
        {
            "Put": {
                "TableName": rooms,
                "Item": {**_code_key(room["code"]), "room_id": room["room_id"]},
                "ConditionExpression": condition,
            }
        },
    ]
    items += [{"Put": {"TableName": memberships, "Item": member}} for member in members]
    codes = transact(items)
    if codes is None:
        return True
    if codes[1] == "ConditionalCheckFailed":
        return False
    raise Conflict("Could not create the room now, try again")


def get_room(room_id: str) -> dict[str, Any] | None:
    return table("rooms").get_item(Key=_room_key(room_id)).get("Item")


def room_id_for_code(code: str) -> str | None:
    item = table("rooms").get_item(Key=_code_key(code)).get("Item")
    return item["room_id"] if item else None


def get_rooms(room_ids: list[str]) -> list[dict[str, Any]]:
    """Rooms by id, in chunks of BatchGetItem's maximum; unprocessed keys retried."""
    dynamodb = clients.dynamodb_resource()
    name = table_name("rooms")
    found: list[dict[str, Any]] = []
    for start in range(0, len(room_ids), _BATCH_GET_MAX):
        request = {
            name: {
                "Keys": [_room_key(room_id) for room_id in room_ids[start : start + _BATCH_GET_MAX]]
            }
        }
        while request:
            response = dynamodb.batch_get_item(RequestItems=request)
            found += response["Responses"].get(name, [])
            request = response.get("UnprocessedKeys") or {}
    return found


def update_room(
    room_id: str, set_fields: dict[str, Any], remove_fields: list[str]
) -> dict[str, Any]:
    """Set and remove attributes of an existing room; return the new item."""
    return table("rooms").update_item(
        Key=_room_key(room_id),
        ConditionExpression="attribute_exists(pk)",
        ReturnValues="ALL_NEW",
        **update_expression(set_fields, remove_fields),
    )["Attributes"]


def touch_last_message(room_id: str, at: str) -> None:
    """Record the room's latest activity (never moving it backwards)."""
    try:
        table("rooms").update_item(
            Key=_room_key(room_id),
            UpdateExpression="SET last_message_at = :at",
            ConditionExpression="attribute_exists(pk) AND (attribute_not_exists(last_message_at) OR last_message_at < :at)",
            ExpressionAttributeValues={":at": at},
        )
    except ClientError as exc:
        if not is_condition_failure(exc):
            raise


# ------------------------------------------------------------------------------ memberships
def add_member(member: dict[str, Any]) -> bool:
    """Add a membership; False (and no change) when it already exists."""
    try:
        table("memberships").put_item(
            Item=member, ConditionExpression="attribute_not_exists(room_id)"
        )
        return True
    except ClientError as exc:
        if is_condition_failure(exc):
            return False
        raise


def get_membership(room_id: str, user_id: str) -> dict[str, Any] | None:
    return table("memberships").get_item(Key={"room_id": room_id, "user_id": user_id}).get("Item")


def list_members(room_id: str) -> list[dict[str, Any]]:
    return query_all("memberships", KeyConditionExpression=Key("room_id").eq(room_id))


def room_ids_of_user(user_id: str) -> list[str]:
    items = query_all(
        "memberships", IndexName="by_user", KeyConditionExpression=Key("user_id").eq(user_id)
    )
    return [item["room_id"] for item in items]


def remove_member(room_id: str, user_id: str) -> None:
    table("memberships").delete_item(Key={"room_id": room_id, "user_id": user_id})


def replace_code(room_id: str, old_code: str, new_code: str) -> bool:
    """Move a room to a new join code in one transaction: the old claim goes, the new one
    is claimed and the room records it. False when the new code is taken (draw another);
    Conflict when the room's code changed meanwhile."""
    rooms = table_name("rooms")
    codes = transact(
        [
            {
                "Delete": {
                    "TableName": rooms,
                    "Key": _code_key(old_code),
                    "ConditionExpression": "room_id = :room",
                    "ExpressionAttributeValues": {":room": room_id},
                }
            },
            {
                "Put": {
                    "TableName": rooms,
                    "Item": {**_code_key(new_code), "room_id": room_id},
                    "ConditionExpression": "attribute_not_exists(pk)",
                }
            },
            {
                "Update": {
                    "TableName": rooms,
                    "Key": _room_key(room_id),
                    "UpdateExpression": "SET code = :new",
                    "ConditionExpression": "code = :old",
                    "ExpressionAttributeValues": {":new": new_code, ":old": old_code},
                }
            },
        ]
    )
    if codes is None:
        return True
    if codes[1] == "ConditionalCheckFailed" and "ConditionalCheckFailed" not in (
        codes[0],
        codes[2],
    ):
        return False
    raise Conflict("The room's code changed meanwhile, try again")
