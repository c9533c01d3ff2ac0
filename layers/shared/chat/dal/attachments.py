"""attachments table: (attachment_id) -> who created it, in which room, what was declared,
and the message it is attached to (``attached_to``), once it is.

An attachment is attached by the same transaction that stores its message, with a
condition that it belongs to the sender and the room and is not attached yet: of two
messages racing for one attachment, exactly one is stored. Never-attached records expire
by TTL (``expires_at``), like their uploads.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, cast

from chat.dal import client_ids
from chat.dal.items import AttachmentItem, MessageItem
from chat.dal.messages import Put
from chat.dal.tables import batch_get, table, table_name, transact_reasons


def put_attachment(item: AttachmentItem) -> None:
    table("attachments").put_item(
        Item=item, ConditionExpression="attribute_not_exists(attachment_id)"
    )


def get_attachments(attachment_ids: Sequence[str]) -> dict[str, AttachmentItem]:
    """The records of these ids that exist (one consistent BatchGetItem, at most 100 ids)."""
    keys = [{"attachment_id": attachment_id} for attachment_id in set(attachment_ids)]
    items = batch_get("attachments", keys, ConsistentRead=True)
    return {item["attachment_id"]: cast(AttachmentItem, item) for item in items}


def put_message_attaching(
    message: MessageItem,
    attachment_ids: Sequence[str],
    *,
    room_id: str,
    user_id: str,
    claim: dict[str, Any] | None = None,
    also: Sequence[dict[str, Any]] = (),
) -> Put:
    """Store ``message`` and mark each attachment attached to it, all or nothing, with the
    claim of its `client_id` if it has one (chat.dal.client_ids.claim) and, with `also`,
    more items written with it (its mentions' inbox entries).

    Nothing is written when an attachment is not the sender's in this room or is already
    attached, e.g. another message won the race for it (``attachment_taken``), or when the
    sender sent this `client_id` before (``repeat``, naming that message).
    """
    items: list[dict[str, Any]] = [
        {
            "Put": {
                "TableName": table_name("messages"),
                "Item": message,
                "ConditionExpression": "attribute_not_exists(message_id)",
            }
        }
    ]
    for attachment_id in attachment_ids:
        items.append(
            {
                "Update": {
                    "TableName": table_name("attachments"),
                    "Key": {"attachment_id": attachment_id},
                    "UpdateExpression": "SET attached_to = :message REMOVE expires_at",
                    "ConditionExpression": "attribute_exists(attachment_id) AND "
                    "attribute_not_exists(attached_to) AND room_id = :room AND user_id = :user",
                    "ExpressionAttributeValues": {
                        ":message": message["message_id"],
                        ":room": room_id,
                        ":user": user_id,
                    },
                }
            }
        )
    cancelled = transact_reasons([*items, *also, *([claim] if claim else [])])
    if cancelled is None:
        return Put("stored", message["message_id"])
    if claim and client_ids.own_write(cancelled, message["message_id"]):
        return Put("stored", message["message_id"])
    repeat = client_ids.repeat_of(cancelled, message["message_id"]) if claim else None
    if repeat is not None:
        return Put("repeat", repeat)
    if "ConditionalCheckFailed" in cancelled.codes:
        return Put("attachment_taken", message["message_id"])
    raise RuntimeError(f"could not store the message ({', '.join(cancelled.codes)})")


def delete_attachments(attachment_ids: Sequence[str]) -> None:
    with table("attachments").batch_writer() as batch:
        for attachment_id in attachment_ids:
            batch.delete_item(Key={"attachment_id": attachment_id})
