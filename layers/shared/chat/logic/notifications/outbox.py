"""What the conversation hands the notifier (chat.adapters.notification_queue), once the room
has its frames: a job per stored message, per edit that mentions someone new. (A bot
answer's job is queued by the bot's ending, which sits beside this wing.)"""

from __future__ import annotations

from collections.abc import Sequence

from chat.adapters.notification_queue import NotificationJob, submit
from chat.models import Message


def message_stored(message: Message) -> None:
    submit(NotificationJob(kind="message", room_id=message.room_id, message_id=message.message_id))


def message_edited(message: Message, newly_mentioned: Sequence[str]) -> None:
    if newly_mentioned:
        submit(
            NotificationJob(
                kind="edit",
                room_id=message.room_id,
                message_id=message.message_id,
                mentioned=tuple(newly_mentioned),
            )
        )
