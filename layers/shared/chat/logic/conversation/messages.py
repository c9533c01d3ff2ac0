"""Posting a message. REST `POST /rooms/{id}/messages` and the WebSocket `message` frame
share `post_message`: store it, announce it to the room, and hand a command over to the bot.

The hot path of every chat message is one DynamoDB round trip before the first push: the
membership check and the store are one transaction, the room's subscribers are queried at
the same time (presence's prefetch), the pushes start once the transaction succeeded
(nothing is pushed that was not stored; a non-member's message is neither stored nor
pushed), and the room's last activity is written after the pushes. Three DynamoDB calls,
whatever the room's size. A command is queued for the bot after it was announced, so the
room sees it before anything of its answer.

Retries are safe: a message with a `client_id` is stored with a claim of it (sender, room,
client_id; chat.dal.client_ids) in the same transaction, so a repeat within 24 hours stores
nothing, whoever comes first. The repeat is answered with the message stored before (one
read), pushed again to the sending socket alone, never to the room, and never handed to the
bot again. Commands, replies and attachments, which read the room first anyway, look for
the claim before the rest (rate limits, copies of files), so a repeat spends none of them.

A message that names members (`@name`) costs two BatchGetItem calls more, before the store
(chat.logic.notifications.mentions); their mention inbox entries are written in the store's
transaction. Once the room has the message, a job goes to the notifications queue, while the
room's last activity is written (the notifier, not the sender, waits for push services).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from concurrent.futures import Future
from typing import Any, NamedTuple

from aws_lambda_powertools.metrics import MetricUnit

from chat.aws import thread_pool
from chat.dal import client_ids
from chat.dal import messages as message_table
from chat.dal.connections import SubscriberPage
from chat.dal.items import (
    AttachmentRef,
    CommandFields,
    MessageItem,
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
from chat.logic.notifications import mentions, outbox
from chat.logic.realtime import presence
from chat.models import BOT_USERNAME, Message
from chat.observability import logger, metrics
from chat.principal import Principal
from chat.text_rules import is_blank

# A store slower than this was retried (a throttle, a lost answer): the subscribers are read
# again after it, so that a socket joining meanwhile is not missed (`_subscribers`).
SLOW_STORE_SECONDS = 0.2


class Posted(NamedTuple):
    """A posted message as the room is shown it; ``repeated``: its `client_id` named a
    message the sender posted before, which it is (nothing was stored or pushed to the room)."""

    message: Message
    repeated: bool = False


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
) -> Posted:
    """Store a member's message, push it to the room, and hand it over to the bot if it is
    a command. `connection_id`, the sending socket, gets its ack even if not joined;
    `content` may be blank only with attachments; a `private` command is its author's
    alone, and so is its answer."""
    content = _text(content, has_attachments=bool(attachment_ids))
    checked = bool(reply_to or attachment_ids)
    to = _addressee(principal, room_id, content, client_id, connection_id, reply_to, checked)
    if isinstance(to, Posted):
        return to
    if private and to.bot is None:
        refused = "only a bot command can be private"
        raise ValidationFailed(refused, details=[{"field": "private", "message": refused}])
    message = _draft(principal, room_id, content, client_id, to.bot, reply_to, private)
    refs = _admit(principal, message, to.bot is not None, attachment_ids)
    fields = CommandFields(bot=to.bot) if to.bot not in (None, BOT_USERNAME) else None
    message, mentioned = _with_mentions(principal, message)
    return _send(principal, message, refs, fields, connection_id, mentioned)


class _Addressee(NamedTuple):
    bot: str | None  # the bot a command calls; None: not a command


def _addressee(
    principal: Principal,
    room_id: str,
    content: str,
    client_id: str | None,
    connection_id: str | None,
    reply_to: str | None,
    checked: bool,
) -> _Addressee | Posted:
    """The bot the message calls, if any, or the message its `client_id` named before.
    Replies and attachments (``checked``) read the room first: membership before anything
    else (before what a reply replies to is read), and a repeat is known before it spends
    anything. So does a command, before it counts against the limits."""
    if checked and (repeat := _sent_before(principal, room_id, client_id, connection_id)):
        return repeat
    replied = check_reply_to(room_id, reply_to, principal.username)
    bot = intake.addressee(room_id, content, replied)
    if (
        bot
        and not checked
        and (repeat := _sent_before(principal, room_id, client_id, connection_id))
    ):
        return repeat
    return _Addressee(bot)


def _draft(
    principal: Principal,
    room_id: str,
    content: str,
    client_id: str | None,
    bot: str | None,
    reply_to: str | None,
    private: bool,
) -> Message:
    """The message as it will be stored, with a new id."""
    return Message(
        message_id=new_id(),
        room_id=room_id,
        username=principal.username,
        content=content,
        message_type="text" if bot is None else "command",
        is_bot=False,
        created_at=now_iso(),
        client_id=client_id,
        reply_to=reply_to,
        visible_to=principal.username if private else None,
    )


def _with_mentions(
    principal: Principal, message: Message
) -> tuple[Message, list[mentions.Mentioned]]:
    """The message with the members it names (a private command is its author's alone: it
    mentions nobody), and who they are."""
    if message.visible_to is not None:
        return message, []
    mentioned = mentions.resolve(message.room_id, principal, message.content)
    if mentioned:
        message = message.model_copy(update={"mentions": [m.username for m in mentioned]})
    return message, list(mentioned)


def post_command(principal: Principal, message: Message, fields: CommandFields) -> Message:
    """Store, announce and hand over a command the server words (a summary), counted
    against the bot limits like any other; `fields`: what the worker reads of it."""
    require_member(message.room_id, principal.user_id)
    intake.check_bot_limits(principal, message.room_id)
    return _send(principal, message, [], fields, None).message


def _sent_before(
    principal: Principal, room_id: str, client_id: str | None, connection_id: str | None
) -> Posted | None:
    """After checking the membership: the message the sender's `client_id` already named in
    the room (given again to the sending socket), or None for a new one."""
    require_member(room_id, principal.user_id)
    sent = client_ids.sent_message_id(room_id, principal.user_id, client_id) if client_id else None
    return _repeat(room_id, sent, connection_id) if sent is not None else None


def _send(
    principal: Principal,
    message: Message,
    refs: list[AttachmentRef],
    fields: CommandFields | None,
    connection_id: str | None,
    mentioned: Sequence[mentions.Mentioned] = (),
) -> Posted:
    room_id = message.room_id
    started = time.monotonic()
    with presence.prefetched_subscribers(room_id) as subscribers:
        put = _store(principal, message, refs, fields, mentioned)
    if put.outcome == "repeat":
        return _repeat(room_id, put.message_id, connection_id)
    if refs:
        signed = message_view.signed(refs, room_id, message.message_id)
        message = message.model_copy(update={"attachments": signed})
    slow = time.monotonic() - started > SLOW_STORE_SECONDS
    _announce(message, _subscribers(subscribers, room_id, again=slow), connection_id)
    if message.message_type == "command":
        intake.hand_over(message)
    return Posted(message)


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
    """The rules beyond the text (membership is checked by the caller or by the store).
    Returns what the message stores of its attachments (their files copied for it)."""
    room_id = message.room_id
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
    mentioned: Sequence[mentions.Mentioned] = (),
) -> message_table.Put:
    """Store the message if its author is a member (with its attachments, claimed in the
    same transaction, its `client_id`'s claim and its mentions' inbox entries); NotFound
    for a non-member. A command's `fields` name its bot (none: the default one) or the
    summary it asks for."""
    item = message_item(message)
    item["author_id"] = principal.user_id  # the by_author index: an account's messages
    if fields:
        item.update(fields)
    inbox = mentions.stored_with(item, mentioned)
    claim = _claim(principal, message)
    if refs:
        put = attachments.store_message(item, refs, principal, claim, also=inbox)
    else:
        put = message_table.put_member_message(item, principal.user_id, claim, also=inbox)
    if put.outcome == "not_a_member":
        raise NotFound("Room not found")
    if put.outcome == "stored":
        mentions.store_overflow(item)
        metrics.add_metric(name="MessagesSent", unit=MetricUnit.Count, value=1)
    return put


def _claim(principal: Principal, message: Message) -> dict[str, Any] | None:
    """The claim of the message's `client_id`, stored in its transaction (None: it has none)."""
    if not message.client_id:
        return None
    return client_ids.claim(
        message.room_id, principal.user_id, message.client_id, message.message_id
    )


def _repeat(room_id: str, message_id: str, connection_id: str | None) -> Posted:
    """A send whose `client_id` named `message_id` before: that message, as it is now, again
    to the sending socket only."""
    item = message_table.get_message(room_id, message_id)
    if item is None:  # pragma: no cover - messages are never removed, only tombstoned
        raise NotFound("Message not found")
    message = message_view.as_message(item)
    if connection_id:
        presence.send_to_connection(connection_id, MessageFrame.of(message))
    metrics.add_metric(name="MessagesRepeated", unit=MetricUnit.Count, value=1)
    logger.info("a repeated client_id", extra={"message_id": message_id})
    return Posted(message, repeated=True)


def _subscribers(
    prefetched: Future[SubscriberPage], room_id: str, *, again: bool
) -> SubscriberPage:
    """The room's first page of subscribers from the prefetch, or queried again
    (consistently) after the store: when the prefetch failed (after botocore's retries: the
    message is stored, its pushes must not be lost to a burst of faults), or when the store
    was slow (``again``).

    The prefetch reads the subscribers before the message is stored. A socket that joins in
    between is not among them, and its catch-up (`after=`, once joined) may run before the
    message is stored: it would get the message neither way. That window is the store's
    time, milliseconds, unless the store was retried: then the subscribers are read again.
    (In a big room only the room's first page is read here: the fan-out function reads
    the others after the store.)"""
    try:
        found = prefetched.result()
    except Exception:
        logger.warning("the subscriber query failed; querying again", exc_info=True)
        again = True
    if again:
        return presence.first_subscribers(room_id, consistent=True)
    return found


def _announce(message: Message, subscribers: SubscriberPage, connection_id: str | None) -> None:
    """Push the stored message to the room (and its sender's socket), then record the
    room's last activity (room lists sort by it) while the notifier's job is queued, off
    the path to the pushes: the message is stored and pushed by then, so a failure there is
    logged, never reported to the sender as a failed send."""
    frame = MessageFrame.of(message)
    room_id = message.room_id
    presence.send_to_room(
        room_id,
        frame,
        also_connection_id=connection_id,
        subscribers=subscribers,
        only_username=message.visible_to,
    )
    queued = thread_pool("after_send", 2).submit(outbox.message_stored, message)
    try:
        touch_last_message(room_id, message.created_at)
    except Exception:
        logger.exception("could not record the room's last activity", extra={"room_id": room_id})
    queued.result()  # it logs its own failure


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
