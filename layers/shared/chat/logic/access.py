"""Who may touch a room: its members. A room the caller is not a member of does not exist
for them (404), so room ids cannot be probed."""

from __future__ import annotations

from chat.dal.items import MembershipItem, RoomItem
from chat.dal.rooms import get_membership, get_room
from chat.errors import Forbidden, NotFound


def require_member(room_id: str, user_id: str) -> MembershipItem:
    membership = get_membership(room_id, user_id)
    if membership is None:
        raise NotFound("Room not found")
    return membership


def room_or_404(room_id: str) -> RoomItem:
    room = get_room(room_id)
    if room is None:
        raise NotFound("Room not found")
    return room


def require_owner(room_id: str, user_id: str, action: str) -> RoomItem:
    """The room, if the caller is a member (else 404) and its owner (else 403)."""
    require_member(room_id, user_id)
    room = room_or_404(room_id)
    if room["owner_id"] != user_id:
        raise Forbidden(f"Only the room's owner can {action}")
    return room
