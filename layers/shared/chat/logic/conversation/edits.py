"""Editing and deleting messages. An edit changes only `content`, `edited_at` and the
mentions of the author's text message; a deletion leaves a tombstone (same id, author and
time, no mentions). Both are single conditional updates, so they never undo a concurrent
reaction or each other; the mention inboxes follow."""

from __future__ import annotations

from typing import NoReturn

from chat.dal import message_changes as changes
from chat.dal import messages as message_table
from chat.dal.items import MessageItem
from chat.dal.rooms import get_room
from chat.errors import Conflict, Forbidden, NotFound
from chat.frames import MessageDeletedFrame, MessageUpdatedFrame
from chat.ids import now_iso
from chat.logic import message_view
from chat.logic.access import require_member
from chat.logic.conversation import attachments
from chat.logic.notifications import mentions, outbox
from chat.logic.realtime import presence
from chat.models import Message
from chat.principal import Principal


def edit_message(principal: Principal, room_id: str, message_id: str, content: str) -> Message:
    """Replace the text of the caller's own text message. The message stays `text` whatever
    the new content says: an edit never becomes a bot command."""
    require_member(room_id, principal.user_id)
    mentioned = mentions.resolve(room_id, principal, content)
    edit = changes.edit_text(
        room_id,
        message_id,
        principal.username,
        content,
        now_iso(),
        mentions=[member.username for member in mentioned],
        mention_ids=[member.user_id for member in mentioned],
    )
    if edit is None:
        _explain_refused_edit(message_table.get_message(room_id, message_id), principal)
    before, after = edit
    newly_mentioned = mentions.edited(before, after)
    message = message_view.as_message(after)
    presence.send_to_room(room_id, MessageUpdatedFrame.of(message))
    outbox.message_edited(message, newly_mentioned)
    return message


def _explain_refused_edit(current: MessageItem | None, principal: Principal) -> NoReturn:
    if current is None or not message_view.visible(current, principal.username):
        raise NotFound("Message not found")
    if current.get("deleted"):
        raise Conflict("The message was deleted")
    if current["message_type"] != "text":
        raise Conflict("Only text messages can be edited, not bot commands or the bot's answers")
    raise Forbidden("Only the author can edit a message")


def delete_message(principal: Principal, room_id: str, message_id: str) -> None:
    """Tombstone a message. The author or the room's owner may (the owner also the bot's);
    deleting a deleted message changes nothing and pushes nothing."""
    require_member(room_id, principal.user_id)
    item = message_table.get_message(room_id, message_id)
    if item is None or not message_view.visible(item, principal.username):
        raise NotFound("Message not found")
    if item.get("deleted"):
        return
    own = item["username"] == principal.username and not item.get("is_bot")
    if not own:
        room = get_room(room_id)
        if room is None or room.get("owner_id") != principal.user_id:
            raise Forbidden("Only the author or the room's owner can delete a message")
    _tombstone(item)


def erase_message(room_id: str, message_id: str) -> bool:
    """Tombstone a message as a deletion does, whoever may (its author's account closing
    with their messages erased); False when it is gone or was deleted already."""
    item = message_table.get_message(room_id, message_id)
    if item is None or item.get("deleted"):
        return False
    return _tombstone(item)


def _tombstone(item: MessageItem) -> bool:
    """Blank a live message, delete its files and tell the room; False when someone else
    deleted it meanwhile (that deletion was announced)."""
    room_id, message_id = item["room_id"], item["message_id"]
    if changes.tombstone(room_id, message_id) is None:
        return False
    # The files go with the message (the tombstone no longer names them), and so do its
    # mentions.
    attachments.delete_attachments_of(item)
    mentions.deleted(item)
    frame = MessageDeletedFrame(room_id=room_id, message_id=message_id)
    presence.send_to_room(room_id, frame, only_username=item.get("visible_to"))
    return True
