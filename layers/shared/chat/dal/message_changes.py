"""messages table: changes to stored messages (edits, tombstones, reactions).

Each change is one conditional UpdateItem on the message item, so a change never
overwrites another one made meanwhile: edits and tombstones set only their attributes,
and the reactions list is replaced only if its version (`reactions_rev`) is still the
one the caller read (optimistic concurrency).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, cast

from chat.dal.items import MessageItem, Number, ReactionItem
from chat.dal.tables import update_if

_NAMES = {
    "#content": "content",
    "#deleted": "deleted",
    "#reactions": "reactions",
    "#rev": "reactions_rev",
    "#attachments": "attachments",
    "#edited": "edited_at",
    "#username": "username",
    "#type": "message_type",
    "#mentions": "mentions",
    "#mention_ids": "mention_ids",
}
_LIVE = "attribute_exists(message_id) AND (attribute_not_exists(#deleted) OR #deleted = :false)"


def _key(room_id: str, message_id: str) -> dict[str, str]:
    return {"room_id": room_id, "message_id": message_id}


def _update(room_id: str, message_id: str, **kwargs: Any) -> MessageItem | None:
    """One conditional update; the new item, or None when its condition failed."""
    updated = update_if("messages", Key=_key(room_id, message_id), ReturnValues="ALL_NEW", **kwargs)
    return cast(MessageItem, updated.item) if updated.written else None


def _names(expression: str) -> dict[str, str]:
    return {alias: name for alias, name in _NAMES.items() if alias in expression}


def edit_text(
    room_id: str,
    message_id: str,
    username: str,
    content: str,
    edited_at: str,
    mentions: Sequence[str] = (),
    mention_ids: Sequence[str] = (),
) -> tuple[MessageItem, MessageItem] | None:
    """Replace the content (and the mentions) of `username`'s live text message: the item
    before and after; None (nothing written) when the message is gone, deleted, someone
    else's or not a text message."""
    condition = f"{_LIVE} AND #username = :username AND #type = :text"
    update = "SET #content = :content, #edited = :at"
    values: dict[str, Any] = {
        ":false": False,
        ":username": username,
        ":text": "text",
        ":content": content,
        ":at": edited_at,
    }
    if mentions:
        update += ", #mentions = :mentions, #mention_ids = :mention_ids"
        values.update({":mentions": list(mentions), ":mention_ids": list(mention_ids)})
    else:
        update += " REMOVE #mentions, #mention_ids"
    updated = update_if(
        "messages",
        Key=_key(room_id, message_id),
        ReturnValues="ALL_OLD",
        UpdateExpression=update,
        ConditionExpression=condition,
        ExpressionAttributeNames=_names(condition + update),
        ExpressionAttributeValues=values,
    )
    if not updated.written or updated.item is None:
        return None
    before = cast(MessageItem, updated.item)
    after = cast(MessageItem, {**before, "content": content, "edited_at": edited_at})
    after.pop("mentions", None)
    after.pop("mention_ids", None)
    if mentions:
        after["mentions"], after["mention_ids"] = list(mentions), list(mention_ids)
    return before, after


def tombstone(room_id: str, message_id: str) -> MessageItem | None:
    """Blank a live message for good (content "", deleted, no reactions, no attachments, no
    mentions);
    None when it is already deleted or gone."""
    update = (
        "SET #content = :empty, #deleted = :true, #reactions = :none, #attachments = :none"
        " REMOVE #mentions, #mention_ids ADD #rev :one"
    )
    return _update(
        room_id,
        message_id,
        UpdateExpression=update,
        ConditionExpression=_LIVE,
        ExpressionAttributeNames=_names(_LIVE + update),
        ExpressionAttributeValues={
            ":false": False,
            ":true": True,
            ":empty": "",
            ":none": [],
            ":one": 1,
        },
    )


def replace_reactions(
    room_id: str, message_id: str, reactions: list[ReactionItem], read_rev: Number | None
) -> bool:
    """Store a message's new reactions if nobody changed them since they were read at
    version `read_rev` (None: never changed) and the message is not deleted."""
    version = "attribute_not_exists(#rev)" if read_rev is None else "#rev = :rev"
    condition = f"{_LIVE} AND {version}"
    update = "SET #reactions = :reactions ADD #rev :one"
    values: dict[str, Any] = {":false": False, ":reactions": reactions, ":one": 1}
    if read_rev is not None:
        values[":rev"] = read_rev
    return (
        _update(
            room_id,
            message_id,
            UpdateExpression=update,
            ConditionExpression=condition,
            ExpressionAttributeNames=_names(condition + update),
            ExpressionAttributeValues=values,
        )
        is not None
    )
