"""A stored message as the contract shows it, with fresh presigned GET URLs for its
attachments (docs/API.md, Attachments): what history, edits, sends and search answer; and
who may see it (a private command and its answer: their author only)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from chat.adapters import storage
from chat.dal.items import AttachmentRef, MessageItem
from chat.models import Attachment, Message

DOWNLOAD_EXPIRES_SECONDS = 3600  # the contract asks for at least 5 minutes


def signed(refs: Sequence[AttachmentRef] | None, room_id: str, message_id: str) -> list[Attachment]:
    """The contract's Attachments of a message's stored refs, each with a fresh presigned GET."""
    return [
        Attachment(
            attachment_id=ref["attachment_id"],
            filename=ref["filename"],
            content_type=ref["content_type"],
            size=int(ref["size"]),
            url=storage.presigned_download(
                storage.object_key(room_id, message_id, ref["attachment_id"]),
                ref["filename"],
                ref["content_type"],
                DOWNLOAD_EXPIRES_SECONDS,
            ),
        )
        for ref in refs or ()
    ]


def as_message(item: MessageItem) -> Message:
    """A stored message as the contract shows it: its attachments signed (none for a
    deleted message)."""
    refs = [] if item.get("deleted") else item.get("attachments")
    signed_refs = signed(refs, item["room_id"], item["message_id"])
    return Message.model_validate({**item, "attachments": signed_refs})


def visible(item: Mapping[str, Any], viewer: str | None) -> bool:
    """Whether `viewer` (a username; None: nobody in particular) may see a stored message:
    every message of the room, except the private ones of others."""
    visible_to = item.get("visible_to")
    return not visible_to or visible_to == viewer
