"""What a room looks like to its members: the contract's `Room`, its summary fields and its
members with who is online."""

from __future__ import annotations

from typing import TypedDict

from chat.dal import rooms as room_table
from chat.dal.connections import room_subscribers
from chat.dal.items import RoomItem
from chat.models import Member, Room


def members(room_id: str) -> list[Member]:
    online = {subscriber["username"] for subscriber in room_subscribers(room_id)}
    return [
        Member(
            username=item["username"],
            role=item["role"],
            joined_at=item["joined_at"],
            online=item["username"] in online,
            last_read_message_id=item.get("last_read_message_id"),
        )
        for item in sorted(room_table.list_members(room_id), key=lambda item: item["joined_at"])
    ]


class RoomFields(TypedDict):
    """The fields of the contract's Room and RoomSummary that the room item gives."""

    room_id: str
    code: str
    name: str
    owner: str
    is_group: bool
    created_at: str
    has_api_key: bool


def summary_fields(room: RoomItem) -> RoomFields:
    return {
        "room_id": room["room_id"],
        "code": room["code"],
        "name": room["name"],
        "owner": room["owner"],
        "is_group": room["is_group"],
        "created_at": room["created_at"],
        "has_api_key": room.get("api_key_ciphertext") is not None,
    }


def room_view(room: RoomItem) -> Room:
    return Room(**summary_fields(room), members=members(room["room_id"]))
