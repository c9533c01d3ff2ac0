"""Attachments (docs/API.md, Attachments): uploads through presigned S3 POSTs, the checks
that let a message carry them, and fresh presigned GET URLs on every read.

1. ``create_upload``: a member declares a file (name, type, size; validated by
   ``CreateAttachmentRequest`` before anything else). We record who declared it in which
   room and return a presigned POST whose policy pins the object key, the exact
   Content-Type, the exact size and the ``pending`` tag, valid ``UPLOAD_EXPIRES_SECONDS``.
2. The client uploads straight to S3.
3. ``prepare`` (before a message is stored, same request): each id must be the sender's,
   in this room, not attached yet, uploaded with the declared size and type (HeadObject),
   and for images its first bytes must be the declared format (one ranged GET). The
   objects are then retagged ``attached`` so the lifecycle rule never deletes them.
4. ``store_message``: the message and the claims on its attachments are one DynamoDB
   transaction, so of two messages racing for an attachment only one is stored.

Declared uploads never attached are deleted a day later by the bucket's lifecycle rule
(and their records by TTL). To keep attaching well clear of that, an attachment must be
attached within ``ATTACH_WITHIN_SECONDS`` of its creation.
"""

from __future__ import annotations

import time
from collections.abc import Sequence

from aws_lambda_powertools.metrics import MetricUnit

from chat.adapters import storage
from chat.dal import attachments as records
from chat.dal.items import AttachmentItem, AttachmentRef, MessageItem
from chat.errors import ValidationFailed
from chat.ids import new_id, now_iso
from chat.logic.access import require_member
from chat.models import (
    MAX_ATTACHMENTS_PER_MESSAGE,
    Attachment,
    AttachmentUpload,
    AttachmentUploadForm,
    CreateAttachmentRequest,
    Message,
)
from chat.observability import logger, metrics
from chat.principal import Principal

UPLOAD_EXPIRES_SECONDS = 300
DOWNLOAD_EXPIRES_SECONDS = 3600  # the contract asks for at least 5 minutes
ATTACH_WITHIN_SECONDS = 12 * 3600
RECORD_TTL_SECONDS = 2 * 24 * 3600  # unattached records outlive their uploads' lifecycle

# The first bytes of each image format (WEBP: "RIFF", 4 size bytes, "WEBP").
_SNIFF_BYTES = 12


def _is_png(head: bytes) -> bool:
    return head.startswith(b"\x89PNG\r\n\x1a\n")


def _is_jpeg(head: bytes) -> bool:
    return head.startswith(b"\xff\xd8\xff")


def _is_gif(head: bytes) -> bool:
    return head.startswith((b"GIF87a", b"GIF89a"))


def _is_webp(head: bytes) -> bool:
    return head[:4] == b"RIFF" and head[8:12] == b"WEBP"


IMAGE_SIGNATURES = {
    "image/png": _is_png,
    "image/jpeg": _is_jpeg,
    "image/gif": _is_gif,
    "image/webp": _is_webp,
}


def looks_like(content_type: str, head: bytes) -> bool:
    """Whether ``head`` (an object's first bytes) is of the declared image format;
    True for types that are not images."""
    check = IMAGE_SIGNATURES.get(content_type)
    return check is None or check(head)


# ------------------------------------------------------------------------------ uploads
def create_upload(
    principal: Principal, room_id: str, request: CreateAttachmentRequest
) -> AttachmentUpload:
    """Record a declared attachment and return the presigned POST to upload it."""
    require_member(room_id, principal.user_id)
    attachment_id = new_id()
    key = storage.object_key(room_id, attachment_id)
    upload = storage.presigned_upload(
        key, request.content_type, request.size, UPLOAD_EXPIRES_SECONDS
    )
    records.put_attachment(
        AttachmentItem(
            attachment_id=attachment_id,
            room_id=room_id,
            user_id=principal.user_id,
            filename=request.filename,
            content_type=request.content_type,
            size=request.size,
            object_key=key,
            created_at=now_iso(),
            created_epoch=int(time.time()),
            expires_at=int(time.time()) + RECORD_TTL_SECONDS,
        )
    )
    metrics.add_metric(name="AttachmentsDeclared", unit=MetricUnit.Count, value=1)
    return AttachmentUpload(
        attachment_id=attachment_id,
        upload=AttachmentUploadForm(url=upload["url"], fields=upload["fields"]),
        expires_in=UPLOAD_EXPIRES_SECONDS,
    )


# ------------------------------------------------------------------------------ attaching
def _refuse(message: str) -> ValidationFailed:
    return ValidationFailed(message, details=[{"field": "attachments", "message": message}])


def prepare(
    principal: Principal, room_id: str, attachment_ids: Sequence[str]
) -> list[AttachmentRef]:
    """Check that a message from ``principal`` in ``room_id`` may carry these attachments;
    return what the message stores of each (no URL). Raises ValidationFailed (422,
    ``details`` naming ``attachments``) otherwise."""
    if len(attachment_ids) > MAX_ATTACHMENTS_PER_MESSAGE:
        raise _refuse(f"A message takes at most {MAX_ATTACHMENTS_PER_MESSAGE} attachments")
    if len(set(attachment_ids)) != len(attachment_ids):
        raise _refuse("The same attachment is listed twice")
    found = records.get_attachments(attachment_ids)
    now = int(time.time())
    refs: list[AttachmentRef] = []
    for attachment_id in attachment_ids:
        record = found.get(attachment_id)
        # Someone else's attachment, or another room's, is as unknown as a made-up id.
        if record is None or record["room_id"] != room_id or record["user_id"] != principal.user_id:
            raise _refuse(f"Attachment {attachment_id} is not one of yours in this room")
        if record.get("attached_to"):
            raise _refuse(f"Attachment {attachment_id} is already attached to a message")
        if now - int(record.get("created_epoch", now)) > ATTACH_WITHIN_SECONDS:
            raise _refuse(f"Attachment {attachment_id} has expired; upload the file again")
        _check_upload(record)
        refs.append(
            AttachmentRef(
                attachment_id=attachment_id,
                filename=record["filename"],
                content_type=record["content_type"],
                size=int(record["size"]),
            )
        )
    # Tag before the message is stored: a stored message must never point at an object
    # the lifecycle rule may still delete. (A message that then fails leaves its objects
    # tagged but unattached: they are kept, never lost.)
    for attachment_id in attachment_ids:
        storage.mark_attached(found[attachment_id]["object_key"])
    return refs


def _check_upload(record: AttachmentItem) -> None:
    attachment_id, key = record["attachment_id"], record["object_key"]
    stored = storage.head(key)
    if stored is None:
        raise _refuse(f"Attachment {attachment_id} was not uploaded")
    if stored.size != int(record["size"]):
        raise _refuse(
            f"Attachment {attachment_id} was uploaded with {stored.size} bytes, "
            f"not the {int(record['size'])} declared"
        )
    if (stored.content_type or "").lower() != record["content_type"]:
        raise _refuse(
            f"Attachment {attachment_id} was uploaded as {stored.content_type or 'no type'}, "
            f"not the {record['content_type']} declared"
        )
    if record["content_type"] in IMAGE_SIGNATURES and not looks_like(
        record["content_type"], storage.first_bytes(key, _SNIFF_BYTES)
    ):
        raise _refuse(f"Attachment {attachment_id} is not a {record['content_type']} image")


def store_message(item: MessageItem, refs: Sequence[AttachmentRef], principal: Principal) -> None:
    """Store a message item with its attachments, claiming them in the same transaction."""
    stored = records.put_message_attaching(
        {**item, "attachments": list(refs)},
        [ref["attachment_id"] for ref in refs],
        room_id=item["room_id"],
        user_id=principal.user_id,
    )
    if not stored:
        raise _refuse("An attachment was attached to another message meanwhile")
    metrics.add_metric(name="AttachmentsAttached", unit=MetricUnit.Count, value=len(refs))


# ------------------------------------------------------------------------------ reading
def signed(refs: Sequence[AttachmentRef] | None, room_id: str) -> list[Attachment]:
    """The contract's Attachments of stored refs, each with a fresh presigned GET."""
    return [
        Attachment(
            attachment_id=ref["attachment_id"],
            filename=ref["filename"],
            content_type=ref["content_type"],
            size=int(ref["size"]),
            url=storage.presigned_download(
                storage.object_key(room_id, ref["attachment_id"]),
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
    return Message.model_validate({**item, "attachments": signed(refs, item["room_id"])})


def delete_attachments_of(message: MessageItem) -> None:
    """Delete a stored message's attachments: their objects and their records (message
    deletion; the message item itself is the caller's to update: a tombstone has no
    attachments)."""
    refs = message.get("attachments") or []
    if not refs:
        return
    room_id = message["room_id"]
    ids = [ref["attachment_id"] for ref in refs]
    storage.delete([storage.object_key(room_id, attachment_id) for attachment_id in ids])
    records.delete_attachments(ids)
    logger.info("attachments deleted", extra={"count": len(ids)})
