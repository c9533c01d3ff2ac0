"""Posting a message. REST `POST /rooms/{id}/messages` and the WebSocket `message` frame
share `post_message`: store it, announce it to the room, and hand a command over to the bot.

The hot path of every chat message is one DynamoDB round trip before the first push: the
membership check and the store are one transaction, the room's subscribers are queried at
the same time (presence's prefetch), the pushes start once the transaction succeeded
(nothing is pushed that was not stored; a non-member's message is neither stored nor
pushed), and the room's last activity is written after the pushes. Three DynamoDB calls,
whatever the room's size. A command is queued for the bot after it was announced, so the
room sees it before anything of its answer.

A message that names members (`@name`) costs two BatchGetItem calls more, before the store
(chat.logic.notifications.mentions); their mention inbox entries are written in the store's
transaction. Once the room has the message, a job goes to the notifications queue, while the
room's last activity is written (the notifier, not the sender, waits for push services).
"""

from __future__ import annotations

from collections.abc import Sequence

from aws_lambda_powertools.metrics import MetricUnit

from chat.dal import messages as message_table
from chat.dal.items import AttachmentRef, SubscriberItem, message_item
from chat.dal.rooms import touch_last_message
from chat.errors import NotFound, ValidationFailed
from chat.frames import MessageFrame
from chat.ids import new_id, now_iso
from chat.logic import message_view
from chat.logic.access import require_member
from chat.logic.bot import intake
from chat.logic.conversation import attachments
from chat.logic.notifications import mentions, outbox
from chat.logic.realtime import fanout, presence
from chat.models import Message, is_bot_command
from chat.observability import logger, metrics
from chat.principal import Principal
from chat.text_rules import is_blank


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
    """Store a member's message, push it to the room, and hand it over to the bot if it is
    a command. `connection_id` is the sending socket, which gets its ack even if not
    joined. `content` may be empty (or only invisible characters) only when the message
    carries attachments."""
    message, refs, mentioned = _draft(
        principal, room_id, content, client_id, reply_to, attachment_ids
    )
    with presence.prefetched_subscribers(room_id) as subscribers:
        message = _store(principal, message, refs, mentioned)
    _announce(message, subscribers.result(), connection_id)
    if message.message_type == "command":
        intake.hand_over(message)
    return message


def _draft(
    principal: Principal,
    room_id: str,
    content: str,
    client_id: str | None,
    reply_to: str | None,
    attachment_ids: Sequence[str],
) -> tuple[Message, list[AttachmentRef], list[mentions.Mentioned]]:
    """The message to store, its attachments and the members it mentions, once every rule
    allows it."""
    content = _text(content, has_attachments=bool(attachment_ids))
    command = is_bot_command(content)
    message_id = new_id()
    refs = _admit(principal, room_id, message_id, command, reply_to, attachment_ids)
    mentioned = mentions.resolve(room_id, principal, content)
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
        mentions=[member.username for member in mentioned],
    )
    return message, refs, mentioned


def _text(content: str, *, has_attachments: bool) -> str:
    """The text to store: whitespace or invisible characters alone count as none, which
    only a message with attachments may have."""
    content = "" if is_blank(content) else content
    if not content and not has_attachments:
        raise ValidationFailed(
            "content is required unless the message has attachments",
            details=[{"field": "content", "message": "must not be empty without attachments"}],
        )
    return content


def _admit(
    principal: Principal,
    room_id: str,
    message_id: str,
    command: bool,
    reply_to: str | None,
    attachment_ids: Sequence[str],
) -> list[AttachmentRef]:
    """The rules beyond the text. A plain text message is checked by its store alone;
    commands, replies and attachments read the room first, so their membership is checked
    before anything else (and before a command counts against the limits). Returns what
    message ``message_id`` stores of its attachments (their files copied for it)."""
    if command or reply_to or attachment_ids:
        require_member(room_id, principal.user_id)
    if command:
        intake.check_bot_limits(principal, room_id)
    check_reply_to(room_id, reply_to)
    if not attachment_ids:
        return []
    return attachments.prepare(principal, room_id, attachment_ids, message_id)


def _store(
    principal: Principal,
    message: Message,
    refs: list[AttachmentRef],
    mentioned: list[mentions.Mentioned],
) -> Message:
    """Store the message if its author is a member (with its attachments, claimed in the
    same transaction, and its mentions' inbox entries); the message as the room is shown it."""
    item = message_item(message)
    inbox = mentions.stored_with(item, mentioned)
    if refs:
        attachments.store_message(item, refs, principal, also=inbox)
        signed = message_view.signed(refs, message.room_id, message.message_id)
        message = message.model_copy(update={"attachments": signed})
    elif not message_table.put_member_message(item, principal.user_id, also=inbox):
        raise NotFound("Room not found")
    mentions.store_overflow(item)
    metrics.add_metric(name="MessagesSent", unit=MetricUnit.Count, value=1)
    return message


def _announce(
    message: Message, subscribers: list[SubscriberItem], connection_id: str | None
) -> None:
    """Push the stored message to the room (and its sender's socket), then record the
    room's last activity (room lists sort by it) while the notifier's job is queued, off
    the path to the pushes: the message is stored and pushed by then, so a failure there is
    logged, never reported to the sender as a failed send."""
    frame = MessageFrame.of(message)
    room_id = message.room_id
    presence.send_to_room(room_id, frame, also_connection_id=connection_id, subscribers=subscribers)
    queued = fanout.pool().submit(outbox.message_stored, message)
    try:
        touch_last_message(room_id, message.created_at)
    except Exception:
        logger.exception("could not record the room's last activity", extra={"room_id": room_id})
    queued.result()  # it logs its own failure


def check_reply_to(room_id: str, reply_to: str | None) -> None:
    """422 (`details` naming reply_to) unless `reply_to` is absent or a message of the room."""
    if reply_to is not None and message_table.get_message(room_id, reply_to) is None:
        message = "reply_to is not a message of this room"
        raise ValidationFailed(message, details=[{"field": "reply_to", "message": message}])
