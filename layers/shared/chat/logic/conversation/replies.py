"""Replies: `reply_to` on a new message names a message of the same room."""

from __future__ import annotations

from chat.dal import messages as message_table
from chat.errors import ValidationFailed


def check_reply_to(room_id: str, reply_to: str | None) -> None:
    """422 (`details` naming reply_to) unless `reply_to` is absent or a message of the room."""
    if reply_to is not None and message_table.get_message(room_id, reply_to) is None:
        message = "reply_to is not a message of this room"
        raise ValidationFailed(message, details=[{"field": "reply_to", "message": message}])
