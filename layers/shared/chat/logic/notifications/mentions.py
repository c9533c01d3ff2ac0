"""Mentions: `@username` in a message's content, at its start or after a character that
cannot be part of a username, and ended the same way, naming a human member of the room in
any letter case (docs/API.md, Mentions). A message stores its mentions (each member once,
in order of first appearance, never its author) and puts itself in their mention inboxes in
the transaction that stores it.

Resolving costs nothing for a message without `@name`; otherwise two BatchGetItem calls
before the store, whatever the room's size: the names' user ids (the username claims), then
which of them are members now (their memberships, read consistently).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from chat.dal import notifications as notification_table
from chat.dal import rooms as room_table
from chat.dal import users as user_table
from chat.dal.items import MessageItem
from chat.principal import Principal

# A username's characters (chat.models.Username); a mention is delimited by anything else.
_NAME = "A-Za-z0-9_.-"
_MENTION = re.compile(rf"(?<![{_NAME}])@([{_NAME}]+)(?![{_NAME}])")
_MIN_NAME, _MAX_NAME = 3, 32
# The store's transaction holds the membership check, the message, up to 4 attachments and
# these inbox entries (DynamoDB: 100 items); more are written right after it.
MAX_MENTIONS_IN_STORE = 90


@dataclass(frozen=True)
class Mentioned:
    user_id: str
    username: str  # as the member registered it


def candidates(content: str, author: str) -> list[str]:
    """The names written as mentions (lower-cased), each once in order of first appearance,
    the author's own left out. Pure: which of them are members is `resolve`'s business."""
    found: dict[str, None] = {}
    for match in _MENTION.finditer(content):
        name = match.group(1)
        if _MIN_NAME <= len(name) <= _MAX_NAME and name.lower() != author.lower():
            found.setdefault(name.lower(), None)
    return list(found)


def resolve(room_id: str, author: Principal, content: str) -> list[Mentioned]:
    """The human members of the room that `content` mentions, in order, never the author."""
    names = candidates(content, author.username)
    if not names:
        return []
    users = user_table.find_usernames(names)
    if not users:
        return []
    members = room_table.members_among(room_id, [user["user_id"] for user in users.values()])
    mentioned = []
    for name in names:
        user = users.get(name)
        member = members.get(user["user_id"]) if user else None
        if member is not None and member["role"] != "bot" and member["user_id"] != author.user_id:
            mentioned.append(Mentioned(member["user_id"], member["username"]))
    return mentioned


def stored_with(item: MessageItem, mentioned: Sequence[Mentioned]) -> list[dict[str, Any]]:
    """Record the mentions on a new message's item; the inbox entries to write in the
    transaction that stores it (the first MAX_MENTIONS_IN_STORE: `store_overflow` the rest)."""
    if not mentioned:
        return []
    item["mentions"] = [member.username for member in mentioned]
    item["mention_ids"] = [member.user_id for member in mentioned]
    first = item["mention_ids"][:MAX_MENTIONS_IN_STORE]
    return notification_table.mention_puts(item["room_id"], item["message_id"], first)


def store_overflow(item: MessageItem) -> None:
    """The inbox entries of a stored message that did not fit in its transaction."""
    rest = (item.get("mention_ids") or [])[MAX_MENTIONS_IN_STORE:]
    notification_table.put_mentions(item["room_id"], item["message_id"], rest)


def edited(before: MessageItem, after: MessageItem) -> list[str]:
    """Move the inbox entries of an edited message to its new mentions; the usernames it
    mentions for the first time (they get the mention frame)."""
    old = dict(zip(before.get("mention_ids") or [], before.get("mentions") or [], strict=False))
    new = dict(zip(after.get("mention_ids") or [], after.get("mentions") or [], strict=False))
    added = [user_id for user_id in new if user_id not in old]
    removed = [user_id for user_id in old if user_id not in new]
    notification_table.put_mentions(after["room_id"], after["message_id"], added)
    notification_table.delete_mentions(after["message_id"], removed)
    return [new[user_id] for user_id in added]


def deleted(before: MessageItem) -> None:
    """A deleted message mentions nobody: out of every inbox it was in."""
    notification_table.delete_mentions(before["message_id"], before.get("mention_ids") or [])
