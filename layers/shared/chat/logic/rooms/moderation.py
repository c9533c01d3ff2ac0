"""Moderation by the room's owner: rename the room, remove a member, rotate the join code."""

from __future__ import annotations

from chat.dal import rooms as room_table
from chat.dal import users as user_table
from chat.dal.connections import room_subscribers
from chat.dal.rooms import RoomChanges
from chat.errors import Conflict, NotFound
from chat.frames import RemovedFrame, RoomUpdatedFrame
from chat.logic.access import require_owner
from chat.logic.realtime import presence
from chat.logic.rooms import directory, join_codes, membership
from chat.models import BOT_USERNAME, Room, bot_user_id
from chat.principal import Principal

_CODE_ATTEMPTS = 5


def rename_room(principal: Principal, room_id: str, name: str) -> Room:
    require_owner(room_id, principal.user_id, "rename the room")
    room_table.update_room(room_id, RoomChanges(name=name))
    presence.send_to_room(room_id, RoomUpdatedFrame(room_id=room_id, name=name))
    return directory.get_room(principal, room_id)


def remove_member(principal: Principal, room_id: str, username: str) -> None:
    """Remove a member: their sockets get `removed` and are unsubscribed at once, the
    others get `presence` offline if they were online, and the room is a 404 to them."""
    require_owner(room_id, principal.user_id, "remove members")
    if username.lower() == BOT_USERNAME:
        raise Conflict("The bot is a member of every room and cannot be removed")
    if room_table.get_membership(room_id, bot_user_id(username)) is not None:
        raise Conflict("Bots are removed with DELETE /rooms/{room_id}/bots/{name}")
    user = user_table.get_by_username(username)
    if user is None or room_table.get_membership(room_id, user["user_id"]) is None:
        raise NotFound("No member of this room has this username")
    if user["user_id"] == principal.user_id:
        raise Conflict("The owner cannot remove themselves; leave the room with /members/me")
    membership.remove_human(room_id, user["user_id"])  # the room's human count goes down too
    own = [s["connection_id"] for s in room_subscribers(room_id) if s["user_id"] == user["user_id"]]
    presence.send_to_connections(own, RemovedFrame(room_id=room_id))
    presence.drop_user_from_room(room_id, user["user_id"], user["username"])


def rotate_code(principal: Principal, room_id: str) -> Room:
    """Give the room a new join code; the old one stops working in the same transaction."""
    room = require_owner(room_id, principal.user_id, "change the join code")
    for _ in range(_CODE_ATTEMPTS):
        if room_table.replace_code(room_id, room["code"], join_codes.new_join_code()):
            return directory.get_room(principal, room_id)
    raise Conflict("Could not allocate a join code, try again")
