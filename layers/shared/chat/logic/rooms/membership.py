"""Joining and leaving rooms: by code, by invitation, leaving (an owner hands the room on),
and a member removed by the owner. The room item counts its humans (chat.dal.rooms), so the
size rules (a direct room's two people, any room's 10,000) and "no human left, no joining"
hold under concurrent joins: each is a condition on the count, written with the membership."""

from __future__ import annotations

from chat.dal import rooms as room_table
from chat.dal import users as user_table
from chat.dal.items import MembershipItem, RoomItem
from chat.errors import Conflict, NotFound
from chat.frames import RoomUpdatedFrame
from chat.ids import now_iso
from chat.logic.access import require_member, room_or_404
from chat.logic.realtime import presence
from chat.logic.rooms.join_codes import normalise_code
from chat.logic.rooms.views import members, room_view
from chat.models import MemberList, Role, Room
from chat.principal import Principal

DIRECT_ROOM_PEOPLE = 2  # a room created with is_group: false, besides the bot
ROOM_MAX_PEOPLE = 10_000  # any room, besides its bots (docs/API.md, "Room size")


def membership(room_id: str, user_id: str, username: str, role: Role, at: str) -> MembershipItem:
    return MembershipItem(
        room_id=room_id, user_id=user_id, username=username, role=role, joined_at=at
    )


def join_room(principal: Principal, code: str) -> Room:
    room_id = room_table.room_id_for_code(normalise_code(code))
    room = room_table.get_room(room_id) if room_id else None
    if room is None:
        raise NotFound("No room has this code")
    _add_human(room, principal.user_id, principal.username, closed_message="No room has this code")
    return room_view(room)


def invite(principal: Principal, room_id: str, username: str) -> Room:
    require_member(room_id, principal.user_id)
    room = room_or_404(room_id)
    user = user_table.get_by_username(username)
    if user is None:
        raise NotFound("User not found")
    _add_human(room, user["user_id"], user["username"], closed_message="Room not found")
    return room_view(room)


def list_members(principal: Principal, room_id: str) -> MemberList:
    require_member(room_id, principal.user_id)
    return MemberList(members=members(room_id))


def _counted(room: RoomItem) -> RoomItem:
    """The room with its human count (counted once for rooms made before the counter)."""
    if "human_count" not in room:
        humans = [m for m in room_table.list_members(room["room_id"]) if m["role"] != "bot"]
        room_table.init_human_count(room["room_id"], len(humans))
        room = room_table.get_room(room["room_id"]) or room
    return room


def remove_human(room_id: str, user_id: str) -> None:
    """Take a human who is not the owner out of a room and out of its count (the owner's
    removal of a member); nothing if they left meanwhile."""
    for _ in range(3):
        _counted(room_or_404(room_id))
        if room_table.leave(room_id, user_id):
            return
        if room_table.get_membership(room_id, user_id) is None:
            return  # they left meanwhile
    raise Conflict("Could not remove the member now, try again")


def _add_human(room: RoomItem, user_id: str, username: str, *, closed_message: str) -> None:
    """Join a human to a room: a direct room holds two people besides the bot, any room
    10,000 (409 beyond), and a room no human is left in cannot be joined."""
    room = _counted(room)
    max_humans = ROOM_MAX_PEOPLE if room.get("is_group", True) else DIRECT_ROOM_PEOPLE
    member = membership(room["room_id"], user_id, username, "member", now_iso())
    outcome = room_table.join(member, max_humans)
    if outcome == "closed":
        raise NotFound(closed_message)
    if outcome == "full":
        kind = "A room" if room.get("is_group", True) else "A direct room"
        raise Conflict(f"{kind} holds at most {max_humans:,} people")


def _successor(room_id: str, leaver_id: str) -> MembershipItem | None:
    """The human member who joined earliest, besides the leaver."""
    humans = [
        m
        for m in room_table.list_members(room_id)
        if m["user_id"] != leaver_id and m["role"] != "bot"
    ]
    return min(humans, key=lambda m: (m["joined_at"], m["user_id"]), default=None)


def leave_room(principal: Principal, room_id: str) -> None:
    """Leave; an owner hands the room to the human member who joined earliest (subscribers
    get `room_updated`). The last human out leaves the room closed to joining."""
    require_member(room_id, principal.user_id)
    successor = None
    for _ in range(3):
        room = _counted(room_or_404(room_id))
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
