"""A room's named bots: each is an entry of the room item's `bots` map (keyed by its name in
lower case), a membership (role `bot`, so the room's members list shows it) and a claim of
its name in the users table, the namespace usernames share.

Adding one is one transaction of the three, so two owners racing for one name, or a user
registering it meanwhile, cannot both win, and a room cannot pass its limit of bots under
concurrent additions (a condition on the map's size). The name's claim outlives the bot:
nobody can register it later, and only the room that had it may add it again.
"""

from __future__ import annotations

from typing import Any, Literal

from chat.dal.items import BotEntry, MembershipItem, RoomItem
from chat.dal.rooms import get_room, room_key
from chat.dal.tables import table_name, transact, update_if
from chat.dal.users import username_key

Added = Literal["added", "name_taken", "full", "no_room"]


def _ensure_map(room_id: str) -> bool:
    """Give a room its (empty) `bots` map if it has none; False when the room is gone."""
    written, _ = update_if(
        "rooms",
        Key=room_key(room_id),
        UpdateExpression="SET bots = :empty",
        ConditionExpression="attribute_exists(pk) AND attribute_not_exists(bots)",
        ExpressionAttributeValues={":empty": {}},
    )
    return written or get_room(room_id) is not None


def add_bot(room_id: str, entry: BotEntry, member: MembershipItem, max_bots: int) -> Added:
    """Add a named bot to a room that has fewer than `max_bots` of them."""
    if not _ensure_map(room_id):
        return "no_room"
    key = entry["name"].lower()
    codes = transact(
        [
            {
                "Put": {
                    "TableName": table_name("users"),
                    "Item": {**username_key(key), "bot_name": entry["name"], "room_id": room_id},
                    # Free, or this room's bot's claim (a bot it removed and adds again).
                    "ConditionExpression": "attribute_not_exists(pk) OR "
                    "(attribute_exists(bot_name) AND room_id = :room)",
                    "ExpressionAttributeValues": {":room": room_id},
                }
            },
            {
                "Update": {
                    "TableName": table_name("rooms"),
                    "Key": room_key(room_id),
                    "UpdateExpression": "SET bots.#name = :entry",
                    "ConditionExpression": "attribute_exists(pk) AND size(bots) < :max "
                    "AND attribute_not_exists(bots.#name)",
                    "ExpressionAttributeNames": {"#name": key},
                    "ExpressionAttributeValues": {":entry": dict(entry), ":max": max_bots},
                }
            },
            {"Put": {"TableName": table_name("memberships"), "Item": member}},
        ]
    )
    if codes is None:
        return "added"
    if codes[0] == "ConditionalCheckFailed":
        return "name_taken"
    if codes[1] == "ConditionalCheckFailed":
        room = get_room(room_id)
        if room is None:
            return "no_room"
        return "name_taken" if key in room.get("bots", {}) else "full"
    raise RuntimeError(f"could not add the bot ({', '.join(codes)})")


def update_bot(
    room_id: str, name: str, changes: dict[str, Any], removed: list[str]
) -> RoomItem | None:
    """Set and remove settings of a named bot; the room as it is then, or None when the
    room has no such bot."""
    names = {"#bot": name.lower()}
    clauses = []
    values: dict[str, Any] = {}
    sets = []
    for index, (field, value) in enumerate(changes.items()):
        names[f"#s{index}"] = field
        values[f":s{index}"] = value
        sets.append(f"bots.#bot.#s{index} = :s{index}")
    if sets:
        clauses.append("SET " + ", ".join(sets))
    drops = []
    for index, field in enumerate(removed):
        names[f"#r{index}"] = field
        drops.append(f"bots.#bot.#r{index}")
    if drops:
        clauses.append("REMOVE " + ", ".join(drops))
    kwargs: dict[str, Any] = {"ExpressionAttributeValues": values} if values else {}
    if not clauses:  # nothing to change: still check the bot exists
        clauses.append("SET bots.#bot.#name = bots.#bot.#name")
        names["#name"] = "name"
    written, item = update_if(
        "rooms",
        Key=room_key(room_id),
        UpdateExpression=" ".join(clauses),
        ConditionExpression="attribute_exists(bots.#bot)",
        ExpressionAttributeNames=names,
        ReturnValues="ALL_NEW",
        **kwargs,
    )
    return item if written else None  # type: ignore[return-value]


def remove_bot(room_id: str, name: str, user_id: str) -> bool:
    """Take a named bot out of a room (its entry and its membership; its name stays
    claimed); False when the room has no such bot."""
    codes = transact(
        [
            {
                "Update": {
                    "TableName": table_name("rooms"),
                    "Key": room_key(room_id),
                    "UpdateExpression": "REMOVE bots.#bot",
                    "ConditionExpression": "attribute_exists(bots.#bot)",
                    "ExpressionAttributeNames": {"#bot": name.lower()},
                }
            },
            {
                "Delete": {
                    "TableName": table_name("memberships"),
                    "Key": {"room_id": room_id, "user_id": user_id},
                }
            },
        ]
    )
    if codes is None:
        return True
    if codes[0] == "ConditionalCheckFailed":
        return False
    raise RuntimeError(f"could not remove the bot ({', '.join(codes)})")
