"""client_ids table: the `client_id`s senders gave their messages, one item per (room,
sender, client_id), naming the message that carried it first, for 24 hours.

A message that carries a `client_id` is stored in one transaction with its claim (`claim`):
the claim's condition (no live claim of that key) makes a repeat fail as a whole, without a
read before the write, and two concurrent sends of one `client_id` store one message. The
failed condition hands back the claim as it is (ReturnValuesOnConditionCheckFailure), so the
repeat learns the stored message's id at no extra call. A claim past its `expires_at` counts
as absent: DynamoDB's TTL deletes expired items only within a few days (moto never does).
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any, cast

from chat.dal.items import ClientIdItem
from chat.dal.tables import Cancelled, table, table_name

CLIENT_ID_SECONDS = 24 * 3600


def _key(room_id: str, user_id: str, client_id: str) -> dict[str, str]:
    # Room and user ids never hold '#'; the client's string comes last, so keys cannot collide.
    return {"pk": f"{room_id}#{user_id}#{client_id}"}


def claim(room_id: str, user_id: str, client_id: str, message_id: str) -> dict[str, Any]:
    """The transaction item that claims `client_id` for `message_id`: a Put, refused while
    a live claim of the same key exists (its item then comes back with the cancellation)."""
    now = int(time.time())
    return {
        "Put": {
            "TableName": table_name("client_ids"),
            "Item": {
                **_key(room_id, user_id, client_id),
                "message_id": message_id,
                "expires_at": now + CLIENT_ID_SECONDS,
            },
            "ConditionExpression": "attribute_not_exists(pk) OR expires_at <= :now",
            "ExpressionAttributeValues": {":now": now},
            "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
        }
    }


def claimed_by(old: Mapping[str, Any] | None) -> str | None:
    """The message id of a live claim that refused a `claim` (its item as it was), if any."""
    if not old or int(old.get("expires_at", 0)) <= time.time():
        return None
    return str(old["message_id"])


def repeat_of(cancelled: Cancelled, message_id: str) -> str | None:
    """The message id a transaction's claim (its last item) found already claimed by another
    message than `message_id`, if that is what cancelled it. A claim by `message_id` itself
    is this very transaction, applied by an attempt whose answer was lost (and run again
    where its ClientRequestToken was not honoured): not a repeat."""
    if cancelled.codes and cancelled.codes[-1] == "ConditionalCheckFailed":
        claimed = claimed_by(cancelled.items[-1])
        return None if claimed == message_id else claimed
    return None


def own_write(cancelled: Cancelled, message_id: str) -> bool:
    """Whether the claim that cancelled a transaction is `message_id`'s own (see repeat_of)."""
    return bool(cancelled.items) and claimed_by(cancelled.items[-1]) == message_id


def sent_message_id(room_id: str, user_id: str, client_id: str) -> str | None:
    """The message this sender's `client_id` already named in the room within 24 hours, or
    None (one consistent read)."""
    item = (
        table("client_ids")
        .get_item(Key=_key(room_id, user_id, client_id), ConsistentRead=True)
        .get("Item")
    )
    return claimed_by(cast(ClientIdItem | None, item))
