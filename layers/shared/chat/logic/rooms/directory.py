"""Rooms and their members. Every room operation starts with the membership check."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.metrics import MetricUnit

from chat.adapters.gemini_keys import encrypt_api_key
from chat.dal import rooms as room_table
from chat.dal import users as user_table
from chat.dal.connections import room_subscribers
from chat.errors import Conflict, NotFound
from chat.frames import RoomUpdatedFrame
from chat.ids import new_id, now_iso
from chat.logic import rate_limits as limits
from chat.logic.access import require_member
from chat.logic.accounts.tokens import Principal
from chat.logic.conversation import read_state
from chat.logic.realtime import presence
from chat.logic.rooms.join_codes import new_join_code, normalise_code
from chat.models import (
    BOT_USER_ID,
    BOT_USERNAME,
    CreateRoomRequest,
    Member,
    MemberList,
    Room,
    RoomList,
    RoomSummary,
)
from chat.observability import metrics

DIRECT_ROOM_PEOPLE = 2  # a room created with is_group: false, besides the bot


def _room_or_404(room_id: str) -> dict[str, Any]:
    room = room_table.get_room(room_id)
    if room is None:
        raise NotFound("Room not found")
    return room


def _members(room_id: str) -> list[Member]:
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


def _summary_fields(room: dict[str, Any]) -> dict[str, Any]:
    return {
        "room_id": room["room_id"],
        "code": room["code"],
        "name": room["name"],
        "owner": room["owner"],
        "is_group": room["is_group"],
        "created_at": room["created_at"],
        "has_api_key": room.get("api_key_ciphertext") is not None,
    }


def _room_view(room: dict[str, Any]) -> Room:
    return Room(**_summary_fields(room), members=_members(room["room_id"]))


def _membership(room_id: str, user_id: str, username: str, role: str, at: str) -> dict[str, Any]:
    return {
        "room_id": room_id,
        "user_id": user_id,
        "username": username,
        "role": role,
        "joined_at": at,
    }


def create_room(principal: Principal, request: CreateRoomRequest) -> Room:
    limits.hit(limits.ROOM_CREATIONS, principal.user_id)
    room_id, created_at = new_id(), now_iso()
    room: dict[str, Any] = {
        "room_id": room_id,
        "name": request.name,
        "owner": principal.username,
        "owner_id": principal.user_id,
        "is_group": request.is_group,
        "created_at": created_at,
        "human_count": 1,
    }
    if request.gemini_api_key:
        room["api_key_ciphertext"] = encrypt_api_key(
            room_id, request.gemini_api_key.get_secret_value()
        )
    members = [
        _membership(room_id, principal.user_id, principal.username, "owner", created_at),
        _membership(room_id, BOT_USER_ID, BOT_USERNAME, "bot", created_at),
    ]
    for _ in range(5):
        room["code"] = new_join_code()
        if room_table.create_room(room, members):
            metrics.add_metric(name="RoomsCreated", unit=MetricUnit.Count, value=1)
            return _room_view(room)
    raise Conflict("Could not allocate a join code, try again")


def list_rooms(principal: Principal) -> RoomList:
    rooms = room_table.get_rooms(room_table.room_ids_of_user(principal.user_id))
    reads = read_state.read_states(principal, rooms)
    summaries = [
        RoomSummary(
            **_summary_fields(room),
            last_message_at=room.get("last_message_at"),
            **reads[room["room_id"]].model_dump(),
        )
        for room in rooms
    ]
    summaries.sort(
        key=lambda room: (room.last_message_at or room.created_at, room.room_id), reverse=True
    )
    return RoomList(rooms=summaries)


def get_room(principal: Principal, room_id: str) -> Room:
    require_member(room_id, principal.user_id)
    return _room_view(_room_or_404(room_id))


def join_room(principal: Principal, code: str) -> Room:
    room_id = room_table.room_id_for_code(normalise_code(code))
    room = room_table.get_room(room_id) if room_id else None
    if room is None:
        raise NotFound("No room has this code")
    _add_human(room, principal.user_id, principal.username, closed_message="No room has this code")
    return _room_view(room)


def invite(principal: Principal, room_id: str, username: str) -> Room:
    require_member(room_id, principal.user_id)
    room = _room_or_404(room_id)
    user = user_table.get_by_username(username)
    if user is None:
        raise NotFound("User not found")
    _add_human(room, user["user_id"], user["username"], closed_message="Room not found")
    return _room_view(room)


def list_members(principal: Principal, room_id: str) -> MemberList:
    require_member(room_id, principal.user_id)
    return MemberList(members=_members(room_id))


def _counted(room: dict[str, Any]) -> dict[str, Any]:
    """The room with its human count (counted once for rooms made before the counter)."""
    if "human_count" not in room:
        humans = [
            m for m in room_table.list_members(room["room_id"]) if m["user_id"] != BOT_USER_ID
        ]
        room_table.init_human_count(room["room_id"], len(humans))
        room = room_table.get_room(room["room_id"]) or room
    return room


def remove_human(room_id: str, user_id: str) -> None:
    """Take a human who is not the owner out of a room and out of its count (the owner's
    removal of a member); nothing if they left meanwhile."""
    for _ in range(3):
        _counted(_room_or_404(room_id))
        if room_table.leave(room_id, user_id):
            return
        if room_table.get_membership(room_id, user_id) is None:
            return  # they left meanwhile
    raise Conflict("Could not remove the member now, try again")


def _add_human(room: dict[str, Any], user_id: str, username: str, *, closed_message: str) -> None:
    """Join a human to a room: a direct room holds two people besides the bot (409 for a
    third), and a room no human is left in cannot be joined."""
    room = _counted(room)
    max_humans = None if room.get("is_group", True) else DIRECT_ROOM_PEOPLE
    member = _membership(room["room_id"], user_id, username, "member", now_iso())
    outcome = room_table.join(member, max_humans)
    if outcome == "closed":
        raise NotFound(closed_message)
    if outcome == "full":
        raise Conflict(f"A direct room holds at most {DIRECT_ROOM_PEOPLE} people")


def _successor(room_id: str, leaver_id: str) -> dict[str, Any] | None:
    """The human member who joined earliest, besides the leaver."""
    humans = [
        m
        for m in room_table.list_members(room_id)
        if m["user_id"] not in (BOT_USER_ID, leaver_id) and m.get("role") != "bot"
    ]
    return min(humans, key=lambda m: (m["joined_at"], m["user_id"]), default=None)


def leave_room(principal: Principal, room_id: str) -> None:
    """Leave; an owner hands the room to the human member who joined earliest (subscribers
    get `room_updated`). The last human out leaves the room closed to joining."""
    require_member(room_id, principal.user_id)
    successor = None
    for _ in range(3):
        room = _counted(_room_or_404(room_id))
        is_owner = room["owner_id"] == principal.user_id
        successor = _successor(room_id, principal.user_id) if is_owner else None
        if room_table.leave(room_id, principal.user_id, successor):
            break
        require_member(room_id, principal.user_id)  # 404 if a concurrent leave won
    else:
        raise Conflict("Could not leave the room now, try again")
    # A former member's sockets must stop receiving the room's frames at once.
    presence.drop_user_from_room(room_id, principal.user_id, principal.username)
    if successor is not None:
        presence.send_to_room(
            room_id, RoomUpdatedFrame(room_id=room_id, owner=successor["username"])
        )
