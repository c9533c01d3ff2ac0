"""Posting a message. REST `POST /rooms/{id}/messages` and the WebSocket `message` frame
share `post_message`: store it, announce it to the room, and hand a command over to the bot.

The hot path of every chat message is one DynamoDB round trip before the first push: the
membership check and the store are one transaction, the room's subscribers are queried at
the same time (presence's prefetch), the pushes start once the transaction succeeded
(nothing is pushed that was not stored; a non-member's message is neither stored nor
pushed), and the room's last activity is written after the pushes. Three DynamoDB calls,
whatever the room's size. A command is queued for the bot after it was announced, so the
room sees it before anything of its answer.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from aws_lambda_powertools.metrics import MetricUnit

from chat.dal import messages as message_table
from chat.dal.items import (
    AttachmentRef,
    CommandFields,
    MessageItem,
    SubscriberItem,
    message_item,
)
from chat.dal.rooms import touch_last_message
from chat.errors import NotFound, ValidationFailed
from chat.frames import MessageFrame
from chat.ids import new_id, now_iso
from chat.logic import message_view
from chat.logic.access import require_member
from chat.logic.bot import intake
from chat.logic.conversation import attachments
from chat.logic.realtime import presence
from chat.models import BOT_USERNAME, Message
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
    private: bool = False,
) -> Message:
    """Store a member's message, push it to the room, and hand it over to the bot if it is
    a command. `connection_id` is the sending socket, which gets its ack even if not
    joined. `content` may be empty (or only invisible characters) only when the message
    carries attachments. A `private` command is its author's alone, and so is its answer."""
    draft = _draft(
        principal, room_id, _text(content, has_attachments=bool(attachment_ids)), reply_to
    )
    if private and draft.bot is None:
        refused = "only a bot command can be private"
        raise ValidationFailed(refused, details=[{"field": "private", "message": refused}])
    message = Message(
        message_id=draft.message_id,
        room_id=room_id,
        username=principal.username,
        content=draft.content,
        message_type="text" if draft.bot is None else "command",
        is_bot=False,
        created_at=now_iso(),
        client_id=client_id,
        reply_to=reply_to,
        visible_to=principal.username if private else None,
    )
    refs = _admit(principal, message, draft.bot is not None, attachment_ids)
    fields = CommandFields(bot=draft.bot) if draft.bot not in (None, BOT_USERNAME) else None
    return _send(principal, message, refs, fields, connection_id)


def post_command(principal: Principal, message: Message, fields: CommandFields) -> Message:
    """Store, announce and hand over a command the server words (a summary), counted
    against the bot limits like any other; `fields`: what the worker reads of it."""
    require_member(message.room_id, principal.user_id)
    intake.check_bot_limits(principal, message.room_id)
    return _send(principal, message, [], fields, None)


def _send(
    principal: Principal,
    message: Message,
    refs: list[AttachmentRef],
    fields: CommandFields | None,
    connection_id: str | None,
) -> Message:
    with presence.prefetched_subscribers(message.room_id) as subscribers:
        message = _store(principal, message, refs, fields)
    _announce(message, subscribers.result(), connection_id)
    if message.message_type == "command":
        intake.hand_over(message)
    return message


@dataclass(frozen=True)
class _Draft:
    message_id: str
    content: str
    bot: str | None  # the bot it is a command for (`bot`: the default one), None: text


def _draft(principal: Principal, room_id: str, content: str, reply_to: str | None) -> _Draft:
    """What a new message is: a command for which bot, if any. A reply must reply to a
    message of the room its author can see (a member: checked before the read)."""
    if reply_to is not None:
        require_member(room_id, principal.user_id)
    replied = check_reply_to(room_id, reply_to, principal.username)
    return _Draft(new_id(), content, intake.addressee(room_id, content, replied))


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
    principal: Principal, message: Message, command: bool, attachment_ids: Sequence[str]
) -> list[AttachmentRef]:
    """The rules beyond the text. A plain text message is checked by its store alone;
    commands and attachments check the membership before anything else (before a command
    counts against the limits; a reply's was checked before what it replies to was read).
    Returns what the message stores of its attachments (their files copied for it)."""
    room_id = message.room_id
    if (command or attachment_ids) and not message.reply_to:
        require_member(room_id, principal.user_id)
    if command:
        intake.check_bot_limits(principal, room_id)
    if not attachment_ids:
        return []
    return attachments.prepare(principal, room_id, attachment_ids, message.message_id)


def _store(
    principal: Principal,
    message: Message,
    refs: list[AttachmentRef],
    fields: CommandFields | None,
) -> Message:
    """Store the message if its author is a member (with its attachments, claimed in the
    same transaction); the message as the room is shown it. A command's `fields` name its
    bot (none: the default one) or the summary it asks for."""
    item = message_item(message)
    if fields:
        item.update(fields)
    if refs:
        attachments.store_message(item, refs, principal)
        signed = message_view.signed(refs, message.room_id, message.message_id)
        message = message.model_copy(update={"attachments": signed})
    elif not message_table.put_member_message(item, principal.user_id):
        raise NotFound("Room not found")
    metrics.add_metric(name="MessagesSent", unit=MetricUnit.Count, value=1)
    return message


def _announce(
    message: Message, subscribers: list[SubscriberItem], connection_id: str | None
) -> None:
    """Push the stored message to the room (and its sender's socket), then record the
    room's last activity (room lists sort by it), off the path to the pushes: the message
    is stored and pushed by then, so a failure there is logged, never reported to the
    sender as a failed send."""
    frame = MessageFrame.of(message)
    room_id = message.room_id
    presence.send_to_room(
        room_id,
        frame,
        also_connection_id=connection_id,
        subscribers=subscribers,
        only_username=message.visible_to,
    )
    try:
        touch_last_message(room_id, message.created_at)
    except Exception:
        logger.exception("could not record the room's last activity", extra={"room_id": room_id})


def check_reply_to(room_id: str, reply_to: str | None, viewer: str) -> MessageItem | None:
    """The message replied to; 422 (`details` naming reply_to) unless `reply_to` is absent
    or a message of the room that `viewer` can see (not another person's private one)."""
    if reply_to is None:
        return None
    replied = message_table.get_message(room_id, reply_to)
    if replied is None or not message_view.visible(replied, viewer):
        message = "reply_to is not a message of this room"
        raise ValidationFailed(message, details=[{"field": "reply_to", "message": message}])
    return replied
