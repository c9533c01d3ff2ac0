"""A bot reply to a command, as first stored: by the worker when it starts an answer, or by
a stop request when the command is stopped before its answer started. Free of the model's
SDK, so the API functions can build one too."""

from __future__ import annotations

from chat.dal.items import MessageItem
from chat.ids import new_id, now_iso
from chat.models import BOT_USERNAME, Message, MessageStatus


def new_reply(
    room_id: str,
    command_id: str,
    *,
    status: MessageStatus,
    bot: str = BOT_USERNAME,
    visible_to: str | None = None,
) -> Message:
    """A reply of the bot named `bot` to ``command_id``, empty, with ``status``; not stored
    yet. The answer to a private command is as private (`visible_to` its author)."""
    return Message(
        message_id=new_id(),
        room_id=room_id,
        username=bot,
        visible_to=visible_to,
        content="",
        message_type="bot",
        is_bot=True,
        created_at=now_iso(),
        reply_to=command_id,
        status=status,
    )


def command_bot(command: MessageItem) -> str:
    """The name of the bot a stored command is for."""
    return command.get("bot") or BOT_USERNAME


def reply_to(command: MessageItem, *, status: MessageStatus) -> Message:
    """A new reply to a stored command: by the bot it named, as private as the command."""
    return new_reply(
        command["room_id"],
        command["message_id"],
        status=status,
        bot=command_bot(command),
        visible_to=command.get("visible_to"),
    )
