"""Who may touch a room: its members. A room the caller is not a member of does not exist
for them (404), so room ids cannot be probed."""

from __future__ import annotations

from typing import Any

from chat.dal.rooms import get_membership
from chat.errors import NotFound


def require_member(room_id: str, user_id: str) -> dict[str, Any]:
    membership = get_membership(room_id, user_id)
    if membership is None:
        raise NotFound("Room not found")
    return membership
