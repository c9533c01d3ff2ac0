"""Storing and reading messages. REST `POST /rooms/{id}/messages` and the WebSocket
`message` frame share `post_message`: store, then announce (push + bot queue).

The hot path of every chat message is one DynamoDB round trip before the first push: the
membership check and the store are one transaction, the room's subscribers are queried at
the same time, the pushes start once the transaction succeeded (nothing is pushed that was
not stored; a non-member's message is neither stored nor pushed), and the room's last
activity is written after the pushes. Three DynamoDB calls, whatever the room's size.
"""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import wait

from aws_lambda_powertools.metrics import MetricUnit

from chat.adapters.bot_queue import enqueue_command
from chat.dal import messages as message_table
from chat.dal.rooms import touch_last_message
from chat.errors import NotFound, Unavailable, ValidationFailed
from chat.frames import MessageFrame
from chat.ids import new_id, now_iso
from chat.logic import attachments, fanout, limits, presence
from chat.logic.access import require_member
from chat.logic.replies import check_reply_to
from chat.logic.tokens import Principal
from chat.models import Message, MessagePage, is_bot_command
from chat.observability import logger, metrics
from chat.text_rules import is_blank


def check_bot_limits(principal: Principal, room_id: str) -> None:
    limits.hit(limits.BOT_COMMANDS_PER_USER_AND_ROOM, principal.user_id, room_id)
    limits.hit(limits.BOT_COMMANDS_PER_USER, principal.user_id)
    limits.hit(limits.BOT_COMMANDS_PER_ROOM, room_id)


def post_message(
    principal: Principal,
    room_id: str,
    content: str,
    client_id: str | None = None,
    *,
    attachment_ids: Sequence[str] = (),
    connection_id: str | None = None,
    reply_to: str | None = None,
) -> Message:
    """Store a member's message, push it to the room, and queue it for the bot if it is a
    command. `connection_id` is the sending socket, which gets its ack even if not joined.
    `content` may be empty (or only invisible characters) only when the message carries
    attachments.

    A plain text message is one round trip before its first push: the membership check and
    the store are one transaction while the subscribers are read. Commands, replies and
    attachments read the room first, so their membership is checked before anything else."""
    if is_blank(content):
        content = ""  # only whitespace or invisible characters counts as empty
    if not content and not attachment_ids:
        raise ValidationFailed(
            "content is required unless the message has attachments",
            details=[{"field": "content", "message": "must not be empty without attachments"}],
        )
    command = is_bot_command(content)
    if command or reply_to or attachment_ids:
        require_member(room_id, principal.user_id)  # before a command counts against limits
    if command:
        check_bot_limits(principal, room_id)
    check_reply_to(room_id, reply_to)
    message_id = new_id()
    refs = (
        attachments.prepare(principal, room_id, attachment_ids, message_id)
        if attachment_ids
        else []
    )
    subscribers = fanout.subscribers_of(room_id)  # meanwhile
    message = Message(
        message_id=message_id,
        room_id=room_id,
        username=principal.username,
        content=content,
        message_type="command" if command else "text",
        is_bot=False,
        created_at=now_iso(),
        client_id=client_id,
        reply_to=reply_to,
    )
    item = message.model_dump(exclude_none=True, exclude={"attachments"})
    if refs:
        try:
            attachments.store_message(item, refs, principal)
        finally:
            wait([subscribers])  # nothing left running if the store fails
        signed = attachments.signed(refs, room_id, message_id)
        message = message.model_copy(update={"attachments": signed})
    elif not message_table.put_member_message(item, principal.user_id):
        wait([subscribers])  # nothing left running when the invocation ends
        raise NotFound("Room not found")
    metrics.add_metric(name="MessagesSent", unit=MetricUnit.Count, value=1)
    if command:
        message = _submit_command(message)
    presence.send_to_room(
        room_id,
        MessageFrame.of(message),
        also_connection_id=connection_id,
        subscribers=subscribers.result(),
    )
    _touch_room(room_id, message.created_at)  # after the pushes: off the path to them
    if message.status == "error":
        raise Unavailable(
            "The bot is unavailable right now; your command was stored but will not be answered"
        )
    return message


def _touch_room(room_id: str, at: str) -> None:
    """The room's last activity (room lists sort by it). The message is stored and pushed
    by now: a failure here is logged, never reported to the sender as a failed send."""
    try:
        touch_last_message(room_id, at)
    except Exception:
        logger.exception("could not record the room's last activity", extra={"room_id": room_id})


def _submit_command(message: Message) -> Message:
    """Queue a stored command; if that fails, mark it failed so it is never silently lost."""
    try:
        enqueue_command(message.room_id, message.message_id)
        metrics.add_metric(name="BotCommandsQueued", unit=MetricUnit.Count, value=1)
        return message
    except Exception:
        logger.exception(
            "could not queue bot command",
            extra={"room_id": message.room_id, "message_id": message.message_id},
        )
        metrics.add_metric(name="BotCommandsNotQueued", unit=MetricUnit.Count, value=1)
        message_table.update_message(message.room_id, message.message_id, {"status": "error"})
        return message.model_copy(update={"status": "error"})


def history(principal: Principal, room_id: str, limit: int, before: str | None) -> MessagePage:
    require_member(room_id, principal.user_id)
    items, more = message_table.page(room_id, limit, before)
    items.reverse()  # oldest -> newest within the page
    return MessagePage(
        messages=[Message(**attachments.with_urls(item)) for item in items],
        next_before=items[0]["message_id"] if more and items else None,
    )
