"""Attachments (docs/API.md, Attachments): uploads through presigned S3 POSTs, the checks
that let a message carry them, and what a deleted
message leaves of them (reading them, with fresh presigned GET URLs: ``chat.logic.message_view``).

1. ``create_upload``: a member declares a file (name, type, size; validated by
   ``CreateAttachmentRequest`` before anything else). We record who declared it in which
   room and return a presigned POST whose policy pins the upload's key (``upload_key``),
   the exact Content-Type and the exact size, valid ``UPLOAD_EXPIRES_SECONDS``.
2. The client uploads straight to S3.
3. ``prepare`` (before a message is stored, same request): each id must be the sender's,
   in this room and not attached yet. Its upload is then copied to the message's own key
   (``object_key``: the room, the message and the attachment), and the copy is checked:
   the declared size and type (HeadObject) and, for images, first bytes of the declared
   format (one ranged GET). What is checked is what is stored: posting the upload form
   again (it stays valid for its 300 s) only replaces the upload, never a copy.
4. ``store_message``: the message and the claims on its attachments are one DynamoDB
   transaction, so of two messages racing for an attachment only one is stored; the
   loser's copies are deleted.

Uploads are deleted a day later by the bucket's lifecycle rule, which matches only the
``uploads/`` prefix: an attached file can never be deleted by it (and never-attached
records expire by TTL). To keep attaching well clear of that, an attachment must be
attached within ``ATTACH_WITHIN_SECONDS`` of its creation.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit

from chat.adapters import storage
from chat.dal import attachments as records
from chat.dal.items import AttachmentItem, AttachmentRef, MessageItem
from chat.dal.messages import Put
from chat.errors import ValidationFailed
from chat.ids import new_id, now_iso
from chat.logic.access import require_member
from chat.models import (
    MAX_ATTACHMENTS_PER_MESSAGE,
    AttachmentUpload,
    AttachmentUploadForm,
    CreateAttachmentRequest,
)
from chat.observability import logger, metrics
from chat.principal import Principal

UPLOAD_EXPIRES_SECONDS = 300
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
    key = storage.upload_key(room_id, attachment_id)
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
            object_key=key,  # of the upload
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
    principal: Principal, room_id: str, attachment_ids: Sequence[str], message_id: str
) -> list[AttachmentRef]:
    """Check that message ``message_id`` (not stored yet) from ``principal`` in ``room_id``
    may carry these attachments, copying each upload to the message's own key and checking
    the copy; return what the message stores of each (no URL). Raises ValidationFailed
    (422, ``details`` naming ``attachments``) otherwise, with no copy left behind."""
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
        refs.append(
            AttachmentRef(
                attachment_id=attachment_id,
                filename=record["filename"],
                content_type=record["content_type"],
                size=int(record["size"]),
            )
        )
    copies: list[str] = []
    try:
        for attachment_id in attachment_ids:
            record = found[attachment_id]
            key = storage.object_key(room_id, message_id, attachment_id)
            if not storage.copy(storage.upload_key(room_id, attachment_id), key):
                raise _refuse(f"Attachment {attachment_id} was not uploaded")
            copies.append(key)
            _check_copy(record, key)
    except BaseException:
        _discard(copies)
        raise
    return refs


def _check_copy(record: AttachmentItem, key: str) -> None:
    attachment_id = record["attachment_id"]
    stored = storage.head(key)
    if stored is None:  # pragma: no cover - copied just before
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


def _discard(keys: Sequence[str]) -> None:
    """Delete the copies of a message that was not stored (best effort: the refusal or the
    failure that led here is what the caller must see)."""
    if not keys:
        return
    try:
        storage.delete(list(keys))
    except Exception:
        logger.exception("could not delete the copies of an unsent message")


def store_message(
    item: MessageItem,
    refs: Sequence[AttachmentRef],
    principal: Principal,
    claim: dict[str, Any] | None = None,
) -> Put:
    """Store a message item with its attachments (prepared for it), claiming them (and its
    `client_id`, with ``claim``) in the same transaction; the copies go when it is not
    stored. A repeated `client_id` is an outcome (``repeat``); a lost race for an
    attachment a 422."""
    copies = [
        storage.object_key(item["room_id"], item["message_id"], ref["attachment_id"])
        for ref in refs
    ]
    try:
        put = records.put_message_attaching(
            {**item, "attachments": list(refs)},
            [ref["attachment_id"] for ref in refs],
            room_id=item["room_id"],
            user_id=principal.user_id,
            claim=claim,
        )
    except BaseException:
        _discard(copies)
        raise
    if put.outcome != "stored":
        _discard(copies)
    if put.outcome == "attachment_taken":
        raise _refuse("An attachment was attached to another message meanwhile")
    if put.outcome == "stored":
        metrics.add_metric(name="AttachmentsAttached", unit=MetricUnit.Count, value=len(refs))
    return put


def delete_attachments_of(message: MessageItem) -> None:
    """Delete a stored message's attachments: their files, their uploads and their records
    (message deletion; the message item itself is the caller's to update: a tombstone has
    no attachments)."""
    refs = message.get("attachments") or []
    if not refs:
        return
    room_id, message_id = message["room_id"], message["message_id"]
    ids = [ref["attachment_id"] for ref in refs]
    storage.delete(
        [storage.object_key(room_id, message_id, attachment_id) for attachment_id in ids]
        + [storage.upload_key(room_id, attachment_id) for attachment_id in ids]
    )
    records.delete_attachments(ids)
    logger.info("attachments deleted", extra={"count": len(ids)})
