"""Creating rooms and finding them: a new room (with its join code and the bot as a member),
the caller's rooms with their read state, one room."""

from __future__ import annotations

from aws_lambda_powertools.metrics import MetricUnit

from chat.adapters.gemini_keys import encrypt_api_key
from chat.dal import rooms as room_table
from chat.dal.items import RoomItem
from chat.errors import Conflict
from chat.ids import new_id, now_iso
from chat.logic import rate_limits
from chat.logic.access import require_member, room_or_404
from chat.logic.conversation import read_state
from chat.logic.notifications import inbox, levels
from chat.logic.rooms.join_codes import new_join_code
from chat.logic.rooms.membership import membership
from chat.logic.rooms.views import room_view, summary_fields
from chat.models import BOT_USER_ID, BOT_USERNAME, CreateRoomRequest, Room, RoomList, RoomSummary
from chat.observability import metrics
from chat.principal import Principal


def create_room(principal: Principal, request: CreateRoomRequest) -> Room:
    rate_limits.hit(rate_limits.ROOM_CREATIONS, principal.user_id)
    room_id, created_at = new_id(), now_iso()
    room = RoomItem(
        room_id=room_id,
        name=request.name,
        owner=principal.username,
        owner_id=principal.user_id,
        is_group=request.is_group,
        created_at=created_at,
        code="",  # drawn below
        human_count=1,
    )
    if request.gemini_api_key:
        room["api_key_ciphertext"] = encrypt_api_key(
            room_id, request.gemini_api_key.get_secret_value()
        )
    members = [
        membership(room_id, principal.user_id, principal.username, "owner", created_at),
        membership(room_id, BOT_USER_ID, BOT_USERNAME, "bot", created_at),
    ]
    for _ in range(5):
        room["code"] = new_join_code()
        if room_table.create_room(room, members):
            metrics.add_metric(name="RoomsCreated", unit=MetricUnit.Count, value=1)
            return room_view(room)
    raise Conflict("Could not allocate a join code, try again")


def list_rooms(principal: Principal) -> RoomList:
    """The caller's rooms, newest activity first, with their read state, unread mentions
    (counted only where something is unread) and notification level."""
    rooms = room_table.get_rooms(room_table.room_ids_of_user(principal.user_id))
    memberships = read_state.my_memberships(principal, rooms)
    reads = read_state.read_states(principal, rooms, memberships)
    unread = [
        (room_id, state.last_read_message_id)
        for room_id, state in reads.items()
        if state.unread_count > 0
    ]
    mention_counts = inbox.mention_counts(principal, unread)
    summaries = [
        RoomSummary(
            **summary_fields(room),
            last_message_at=room.get("last_message_at"),
            last_read_message_id=reads[room["room_id"]].last_read_message_id,
            unread_count=reads[room["room_id"]].unread_count,
            mention_count=mention_counts.get(room["room_id"], 0),
            notifications=levels.level_of(memberships.get(room["room_id"]), room["is_group"]),
        )
        for room in rooms
    ]
    summaries.sort(
        key=lambda room: (room.last_message_at or room.created_at, room.room_id), reverse=True
    )
    return RoomList(rooms=summaries)


def get_room(principal: Principal, room_id: str) -> Room:
    require_member(room_id, principal.user_id)
    return room_view(room_or_404(room_id))
