"""`POST /rooms/{id}/summary`: the default bot summarizes what the caller missed.

The request is stored as a command of the caller (counted against the bot limits like any
other), private to them unless they ask otherwise, and answered by the worker from the
messages after `since` (chat.logic.bot.summary): by default the caller's read marker,
without one the room from its start. Nothing the caller could see after `since` is a 409.
"""

from __future__ import annotations

from chat.dal import messages as message_table
from chat.dal.items import CommandFields
from chat.errors import Conflict, ValidationFailed
from chat.ids import new_id, now_iso
from chat.logic import message_view
from chat.logic.access import require_member
from chat.logic.bot.summary import COMMAND_TEXT
from chat.logic.conversation.messages import post_command
from chat.models import Message
from chat.principal import Principal

_LOOK_AHEAD = 50  # messages read after `since` to find one worth summarizing


def request_summary(principal: Principal, room_id: str, since: str | None, private: bool) -> str:
    """Queue a summary of the room after `since` for the caller; returns its command's id."""
    membership = require_member(room_id, principal.user_id)
    if since is None:
        since = membership.get("last_read_message_id")
    else:
        marked = message_table.get_message(room_id, since)
        if marked is None or not message_view.visible(marked, principal.username):
            refused = "since is not a message of this room"
            raise ValidationFailed(refused, details=[{"field": "since", "message": refused}])
    if not _anything_after(room_id, since, principal.username):
        raise Conflict("Nothing was written after that message")
    command = Message(
        message_id=new_id(),
        room_id=room_id,
        username=principal.username,
        content=COMMAND_TEXT,
        message_type="command",
        is_bot=False,
        created_at=now_iso(),
        visible_to=principal.username if private else None,
    )
    post_command(principal, command, CommandFields(summary_after=since or ""))
    return command.message_id


def _anything_after(room_id: str, since: str | None, viewer: str) -> bool:
    """Whether the room holds a message after `since` (None: any) that `viewer` can see."""
    if since is None:
        found, _ = message_table.page(room_id, _LOOK_AHEAD, None, viewer)
        return any(not item.get("deleted") for item in found)
    found, more = message_table.page_after(room_id, _LOOK_AHEAD, since, viewer)
    return more or any(not item.get("deleted") for item in found)
