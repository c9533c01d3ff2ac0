"""The mention inbox: `GET /mentions` (messages that mention the caller, in rooms they are
still in, newest first) and the unread mention counts of the room list.

A page reads the caller's inbox entries, keeps those of rooms they are a member of now and of
messages that still mention them (one consistent BatchGetItem each), and reads on while the
page is not full, at most MAX_READS times: `next_before` then names the last entry read, so
the next page goes on from there.
"""

from __future__ import annotations

from aws_lambda_powertools.metrics import MetricUnit

from chat.dal import messages as message_table
from chat.dal import notifications as notification_table
from chat.dal import rooms as room_table
from chat.dal.items import MentionItem, MessageItem
from chat.logic import message_view
from chat.models import MentionPage, Message
from chat.observability import metrics
from chat.principal import Principal

MENTION_CAP = 100  # mention_count counts up to this, as unread_count does
MAX_READS = 5
RECENT_READ = 300  # inbox entries the room list reads in one Query


def mentions_page(principal: Principal, limit: int, before: str | None) -> MentionPage:
    found: list[Message] = []
    cursor = before
    for _ in range(MAX_READS):
        entries, more = notification_table.mention_page(principal.user_id, limit, cursor)
        shown = _still_mentioning(principal, entries)
        for entry in entries:
            cursor = entry["message_id"]
            item = shown.get(cursor)
            if item is not None:
                found.append(message_view.as_message(item))
                if len(found) == limit:
                    last = entries[-1]["message_id"]
                    return MentionPage(mentions=found, next_before=_next(cursor, last, more))
        if not more:
            return MentionPage(mentions=found, next_before=None)
    metrics.add_metric(name="MentionPagesCut", unit=MetricUnit.Count, value=1)
    return MentionPage(mentions=found, next_before=cursor)


def _next(cursor: str, last_read: str, more: bool) -> str | None:
    """Where the next page starts: after the last entry shown, if anything is left."""
    return cursor if more or cursor != last_read else None


def _still_mentioning(principal: Principal, entries: list[MentionItem]) -> dict[str, MessageItem]:
    """The entries' messages, by id, that the caller may see and that mention them now."""
    if not entries:
        return {}
    rooms = room_table.member_room_ids(principal.user_id, [e["room_id"] for e in entries])
    keys = [(e["room_id"], e["message_id"]) for e in entries if e["room_id"] in rooms]
    messages = message_table.get_messages(keys)
    return {
        message_id: item
        for (_, message_id), item in messages.items()
        if not item.get("deleted") and principal.user_id in (item.get("mention_ids") or [])
    }


def mention_counts(principal: Principal, unread: list[tuple[str, str | None]]) -> dict[str, int]:
    """The caller's unread mentions in each (room, last read message id), by room, up to
    MENTION_CAP. One Query reads their inbox entries newer than the oldest of those
    pointers (mentions are rare: usually all of them); only when there are more than
    RECENT_READ does each room whose unread part goes back further cost a COUNT Query on the
    inbox's room index (in parallel)."""
    if not unread:
        return {}
    pointers = dict(unread)
    oldest = None if None in pointers.values() else min(p for p in pointers.values() if p)
    entries, complete = notification_table.recent_mentions(principal.user_id, oldest, RECENT_READ)
    counts = dict.fromkeys(pointers, 0)
    for entry in entries:
        room_id = entry["room_id"]
        if room_id not in pointers:
            continue
        after = pointers[room_id]
        if after is None or entry["message_id"] > after:
            counts[room_id] = min(counts[room_id] + 1, MENTION_CAP)
    if complete or not entries:
        return counts
    last = entries[-1]["message_id"]
    further = [
        (room_id, after)
        for room_id, after in unread
        if (after is None or after < last) and counts[room_id] < MENTION_CAP
    ]
    exact = notification_table.count_mentions_many(principal.user_id, further, MENTION_CAP)
    counts.update((room_id, n) for (room_id, _), n in zip(further, exact, strict=True))
    return counts
