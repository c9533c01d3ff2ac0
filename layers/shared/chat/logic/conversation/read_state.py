"""Read state: each member's read pointer (`last_read_message_id`, only moving forwards)
and unread counts: the messages after it that others wrote (the bot's included), counted
up to 100.

`GET /rooms` costs, for a user in N rooms: one Query for their memberships' keys, one
BatchGetItem for the rooms and one for the memberships (100 keys each), and one COUNT
Query per room that ever had a message (usually one page: see chat.dal.read_state). The
COUNT Queries run in parallel, 8 at a time.
"""

from __future__ import annotations

from chat.dal import messages as message_table
from chat.dal import read_state as pointers
from chat.dal.items import MembershipItem, RoomItem
from chat.dal.rooms import get_membership
from chat.errors import NotFound, ValidationFailed
from chat.frames import ReadFrame
from chat.logic import message_view
from chat.logic.access import require_member
from chat.logic.realtime import presence
from chat.models import ReadState
from chat.principal import Principal

UNREAD_CAP = 100


def mark_read(principal: Principal, room_id: str, message_id: str) -> ReadState:
    """Move the caller's read pointer to `message_id` (a message of this room); marking an
    older one than the current pointer changes nothing. Others subscribed get `read`."""
    require_member(room_id, principal.user_id)
    marked = message_table.get_message(room_id, message_id)
    if marked is None or not message_view.visible(marked, principal.username):
        message = "message_id is not a message of this room"
        raise ValidationFailed(message, details=[{"field": "message_id", "message": message}])
    last_read: str | None = message_id
    if pointers.advance_read_pointer(room_id, principal.user_id, message_id):
        frame = ReadFrame(room_id=room_id, username=principal.username, message_id=message_id)
        presence.send_to_room(room_id, frame, exclude_user_id=principal.user_id)
    else:
        membership = get_membership(room_id, principal.user_id)
        if membership is None:
            raise NotFound("Room not found")
        last_read = membership.get("last_read_message_id")
    unread = pointers.count_unread(room_id, last_read, principal.username, UNREAD_CAP)
    return ReadState(last_read_message_id=last_read, unread_count=unread)


def my_memberships(principal: Principal, rooms: list[RoomItem]) -> dict[str, MembershipItem]:
    """The caller's membership items in these rooms, by room id (BatchGetItem, 100 a call)."""
    return pointers.memberships_of(principal.user_id, [room["room_id"] for room in rooms])


def _never_had_messages(room: RoomItem) -> bool:
    return room.get("last_message_at") is None


def read_states(
    principal: Principal,
    rooms: list[RoomItem],
    memberships: dict[str, MembershipItem] | None = None,
) -> dict[str, ReadState]:
    """The caller's read state in each of these rooms (room items), by room id; from their
    `memberships` in them when the caller has read those already."""
    if memberships is None:
        memberships = my_memberships(principal, rooms)
    states: dict[str, ReadState] = {}
    pending: list[tuple[str, str | None]] = []
    for room in rooms:
        membership = memberships.get(room["room_id"])
        last_read = membership.get("last_read_message_id") if membership else None
        if _never_had_messages(room):
            states[room["room_id"]] = ReadState(last_read_message_id=last_read, unread_count=0)
        else:
            pending.append((room["room_id"], last_read))
    counts = pointers.count_unread_many(pending, principal.username, UNREAD_CAP)
    for (room_id, last_read), count in zip(pending, counts, strict=True):
        states[room_id] = ReadState(last_read_message_id=last_read, unread_count=count)
    return states
