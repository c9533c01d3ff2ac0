"""Who hears of a message, and how (pure): the notifier's rules (docs/API.md, Push
notifications).

Every human member but the author is a candidate. A member the message mentions gets the
`mention` frame on their open connections whatever their level. A member with no open
connection gets a push when their level asks for it: `all`, every message (a bot answer once,
when it is complete); `mentions`, the messages that mention them; `none`, nothing. An edit
reaches only the members it mentions for the first time. A private message (`visible_to`)
reaches nobody but its viewer.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from chat.dal.items import MembershipItem, MessageItem
from chat.logic.notifications.levels import level_of

JobKind = Literal["message", "edit", "answer"]
PREVIEW_CHARACTERS = 120


@dataclass(frozen=True)
class Recipient:
    user_id: str
    username: str
    mentioned: bool  # the mention frame when online; a push of type "mention" when offline
    push: bool  # when offline, a push: their level asks for it


def recipients(
    message: MessageItem,
    is_group: bool,
    members: Sequence[MembershipItem],
    kind: JobKind,
    newly_mentioned: Sequence[str] = (),
) -> list[Recipient]:
    mentioned = set(newly_mentioned if kind == "edit" else message.get("mentions") or [])
    viewer = message.get("visible_to")
    found = []
    for member in members:
        username = member["username"]
        if member["role"] == "bot" or username == message["username"]:
            continue
        if viewer is not None and username != viewer:
            continue
        level = level_of(member, is_group)
        is_mentioned = username in mentioned
        if kind == "message":
            push = level == "all" or (level == "mentions" and is_mentioned)
        elif kind == "answer":
            push = level == "all"
        else:
            push = is_mentioned and level != "none"
        if push or is_mentioned:
            found.append(Recipient(member["user_id"], username, is_mentioned, push))
    return found


def preview(message: MessageItem) -> str:
    """What a notification shows of a message: its text on one line (or its files' names),
    at most PREVIEW_CHARACTERS characters."""
    text = " ".join(message["content"].split())
    if not text:
        text = ", ".join(ref["filename"] for ref in message.get("attachments") or [])
    if len(text) > PREVIEW_CHARACTERS:
        text = text[: PREVIEW_CHARACTERS - 1] + "…"
    return text
