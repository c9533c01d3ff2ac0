"""A bot reply to a command, as first stored: by the worker when it starts an answer, or by
a stop request when the command is stopped before its answer started. Free of the model's
SDK, so the API functions can build one too."""

from __future__ import annotations

from chat.ids import new_id, now_iso
from chat.models import BOT_USERNAME, Message, MessageStatus


def new_reply(room_id: str, command_id: str, *, status: MessageStatus) -> Message:
    """A bot reply to ``command_id``, empty, with ``status``; not stored yet."""
    return Message(
        message_id=new_id(),
        room_id=room_id,
        username=BOT_USERNAME,
        content="",
        message_type="bot",
        is_bot=True,
        created_at=now_iso(),
        reply_to=command_id,
        status=status,
    )
