"""rooms table: `ROOM#<id>` holds the room and its bot settings; `CODE#<code>` claims a
join code. memberships table: (room_id, user_id), with the `by_user` index for "my rooms"."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Literal, TypedDict, cast

from boto3.dynamodb.conditions import Key

from chat.dal.items import MembershipItem, RoomItem
from chat.dal.tables import (
    batch_get,
    query_all,
    strip_none,
    table,
    table_name,
    transact,
    update_expression,
    update_if,
)
from chat.errors import Conflict

if TYPE_CHECKING:
    from chat.models import Tool


def room_key(room_id: str) -> dict[str, str]:
    return {"pk": f"ROOM#{room_id}"}


def _code_key(code: str) -> dict[str, str]:
    return {"pk": f"CODE#{code.upper()}"}


def _update_room_if(room_id: str, expression: str, condition: str, values: dict[str, Any]) -> None:
    """Update the room item; nothing is written when the condition fails."""
    update_if(
        "rooms",
        Key=room_key(room_id),
        UpdateExpression=expression,
        ConditionExpression=condition,
        ExpressionAttributeValues=values,
    )


def create_room(room: RoomItem, members: list[MembershipItem]) -> bool:
    """Store a room, its code claim and its first members at once.

    False when the join code is already taken (the caller draws another one).
    """
    rooms, memberships = table_name("rooms"), table_name("memberships")
    condition = "attribute_not_exists(pk)"
    items: list[dict[str, Any]] = [
        {
            "Put": {
                "TableName": rooms,
                "Item": {**room_key(room["room_id"]), **strip_none(dict(room))},
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


def get_room(room_id: str) -> RoomItem | None:
    return cast(RoomItem | None, table("rooms").get_item(Key=room_key(room_id)).get("Item"))


def room_id_for_code(code: str) -> str | None:
    item = table("rooms").get_item(Key=_code_key(code)).get("Item")
    return item["room_id"] if item else None


def get_rooms(room_ids: list[str]) -> list[RoomItem]:
    """Rooms by id, in chunks of BatchGetItem's maximum; unprocessed keys retried."""
    return cast(list[RoomItem], batch_get("rooms", [room_key(room_id) for room_id in room_ids]))


class BotSettingsChanges(TypedDict, total=False):
    """What the owner may set of a bot's settings (chat.dal.items.BotSettingsFields)."""

    model: str
    system_prompt: str
    api_key_ciphertext: bytes
    tools: list[Tool]
    monthly_token_budget: int
    answers_replies: bool


class RoomChanges(BotSettingsChanges, total=False):
    """What the owner may change of a room (its name, the default bot's settings)."""

    name: str


# The bot settings an update may remove (back to their defaults).
Removable = Literal[
    "model",
    "system_prompt",
    "api_key_ciphertext",
    "tools",
    "monthly_token_budget",
    "answers_replies",
]


def update_room(
    room_id: str, changes: RoomChanges | BotSettingsChanges, removed: Sequence[Removable] = ()
) -> RoomItem:
    """Set and remove attributes of an existing room; return the new item."""
    return cast(
        RoomItem,
        table("rooms").update_item(
            Key=room_key(room_id),
            ConditionExpression="attribute_exists(pk)",
            ReturnValues="ALL_NEW",
            **update_expression(dict(changes), removed),
        )["Attributes"],
    )


def touch_last_message(room_id: str, at: str) -> None:
    """Record the room's latest activity (never moving it backwards)."""
    _update_room_if(
        room_id,
        "SET last_message_at = :at",
        "attribute_exists(pk) AND (attribute_not_exists(last_message_at) OR last_message_at < :at)",
        {":at": at},
    )


# ------------------------------------------------------------------------------ memberships
def get_membership(room_id: str, user_id: str) -> MembershipItem | None:
    item = table("memberships").get_item(Key={"room_id": room_id, "user_id": user_id}).get("Item")
    return cast(MembershipItem | None, item)


def list_members(room_id: str) -> list[MembershipItem]:
    items = query_all("memberships", KeyConditionExpression=Key("room_id").eq(room_id))
    return cast(list[MembershipItem], items)


def room_ids_of_user(user_id: str) -> list[str]:
    items = query_all(
        "memberships", IndexName="by_user", KeyConditionExpression=Key("user_id").eq(user_id)
    )
    return [item["room_id"] for item in items]


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
                    "Key": room_key(room_id),
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


# ------------------------------------------------------------------------------ human count
# The room item counts its human members (`human_count`), changed in the same transaction
# as the membership: the direct-room size rule and "no human left, no joining" are
# conditions on it, so concurrent joins and leaves cannot get past them. Humans are added
# only with `join` and removed only with `leave` (removing a member by moderation too):
# a membership written or deleted any other way would put the count wrong.
def _room_update(
    room_id: str, expression: str, condition: str, values: dict[str, Any]
) -> dict[str, Any]:
    return {
        "Update": {
            "TableName": table_name("rooms"),
            "Key": room_key(room_id),
            "UpdateExpression": expression,
            "ConditionExpression": condition,
            "ExpressionAttributeValues": values,
        }
    }


def init_human_count(room_id: str, count: int) -> None:
    """Give a room made before the counter existed its count (once; a no-op after)."""
    _update_room_if(
        room_id,
        "SET human_count = :n",
        "attribute_exists(pk) AND attribute_not_exists(human_count)",
        {":n": count},
    )


def join(member: MembershipItem, max_humans: int | None) -> str:
    """Add a human member and count them: "joined"; "member" if they already were;
    "closed" when no human is left in the room; "full" at `max_humans`."""
    condition = "attribute_exists(pk) AND human_count > :zero"
    values: dict[str, Any] = {":zero": 0, ":one": 1}
    if max_humans is not None:
        condition += " AND human_count < :max"
        values[":max"] = max_humans
    codes = transact(
        [
            {
                "Put": {
                    "TableName": table_name("memberships"),
                    "Item": member,
                    "ConditionExpression": "attribute_not_exists(room_id)",
                }
            },
            _room_update(
                member["room_id"], "SET human_count = human_count + :one", condition, values
            ),
        ]
    )
    if codes is None:
        return "joined"
    if codes[0] == "ConditionalCheckFailed":
        return "member"
    if codes[1] == "ConditionalCheckFailed":
        room = get_room(member["room_id"])
        return "closed" if room is None or int(room.get("human_count", 0)) <= 0 else "full"
    raise Conflict("Could not join the room now, try again")


def leave(room_id: str, user_id: str, successor: MembershipItem | None = None) -> bool:
    """Remove a human member and uncount them; with `successor` (a membership) the leaver
    is the owner and the successor becomes the owner in the same transaction. False when
    something changed meanwhile (the caller reads again and retries)."""
    memberships = table_name("memberships")
    items: list[dict[str, Any]] = [
        {
            "Delete": {
                "TableName": memberships,
                "Key": {"room_id": room_id, "user_id": user_id},
                "ConditionExpression": "attribute_exists(room_id)",
            }
        }
    ]
    if successor is None:
        # Not the owner (who may have become it meanwhile), or the last human out.
        items.append(
            _room_update(
                room_id,
                "SET human_count = human_count - :one",
                "attribute_exists(pk) AND human_count > :zero"
                " AND (owner_id <> :leaver OR human_count = :one)",
                {":one": 1, ":zero": 0, ":leaver": user_id},
            )
        )
    else:
        items.append(
            {
                "Update": {
                    "TableName": memberships,
                    "Key": {"room_id": room_id, "user_id": successor["user_id"]},
                    "UpdateExpression": "SET #role = :owner",
                    "ConditionExpression": "attribute_exists(room_id)",
                    "ExpressionAttributeNames": {"#role": "role"},
                    "ExpressionAttributeValues": {":owner": "owner"},
                }
            }
        )
        items.append(
            _room_update(
                room_id,
                "SET human_count = human_count - :one, #owner = :name, owner_id = :id",
                "owner_id = :leaver AND human_count > :zero",
                {
                    ":one": 1,
                    ":zero": 0,
                    ":name": successor["username"],
                    ":id": successor["user_id"],
                    ":leaver": user_id,
                },
            )
        )
        items[-1]["Update"]["ExpressionAttributeNames"] = {"#owner": "owner"}
    return transact(items) is None


def member_room_ids(user_id: str, room_ids: Sequence[str]) -> set[str]:
    """Which of these rooms the user is a member of now: their membership items, read
    consistently (the `by_user` index may lag a leave or a removal by a moment)."""
    keys, options = membership_reads(user_id, room_ids)
    return {item["room_id"] for item in batch_get("memberships", keys, **options)}


def membership_reads(
    user_id: str, room_ids: Sequence[str]
) -> tuple[list[dict[str, str]], dict[str, Any]]:
    """The keys and options of `member_room_ids`' read, for a BatchGetItem shared with
    other tables (tables.batch_get_tables): the room ids of the user's memberships, now."""
    keys = [{"room_id": room_id, "user_id": user_id} for room_id in dict.fromkeys(room_ids)]
    return keys, {"ConsistentRead": True, "ProjectionExpression": "room_id"}


def members_among(room_id: str, user_ids: list[str]) -> dict[str, MembershipItem]:
    """The memberships of these users in the room, by user id, read consistently (one
    BatchGetItem per 100 users): who of them is a member now, and in which role."""
    keys = [{"room_id": room_id, "user_id": user_id} for user_id in dict.fromkeys(user_ids)]
    items = batch_get("memberships", keys, ConsistentRead=True)
    return {item["user_id"]: cast(MembershipItem, item) for item in items}
