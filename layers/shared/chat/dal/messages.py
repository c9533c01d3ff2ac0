"""messages table: (room_id, message_id); message ids sort in storage order.

Index `by_author` (author_id, message_id; keys only): a person's messages in every room,
oldest first, without a Scan (`by_author`). Only people's messages carry `author_id`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Literal, NamedTuple, TypedDict, cast

from boto3.dynamodb.conditions import Attr, Key

from chat.dal import client_ids
from chat.dal.items import MessageItem, SourceItem, ToolCallItem, UsageItem
from chat.dal.tables import (
    batch_get,
    batch_get_tables,
    persistently,
    table,
    table_name,
    transact,
    transact_reasons,
    update_expression,
    update_if,
)


class Put(NamedTuple):
    """What became of a new message: ``stored``; ``not_a_member`` or ``attachment_taken``
    (nothing stored); or ``repeat``: its `client_id` already named a message, the one
    ``message_id`` names (nothing stored)."""

    outcome: Literal["stored", "not_a_member", "attachment_taken", "repeat"]
    message_id: str


def put_member_message(
    message: MessageItem,
    user_id: str,
    claim: dict[str, Any] | None = None,
    also: Sequence[dict[str, Any]] = (),
) -> Put:
    """Store a message if its author is a member of its room, in one round trip: a
    transaction of a ConditionCheck on the membership, the Put and, for a message with a
    `client_id`, its claim (chat.dal.client_ids.claim), refused when the sender already used
    that `client_id` in the room; with `also`, more items written with it (its mentions'
    inbox entries)."""
    items: list[dict[str, Any]] = [
        {
            "ConditionCheck": {
                "TableName": table_name("memberships"),
                "Key": {"room_id": message["room_id"], "user_id": user_id},
                "ConditionExpression": "attribute_exists(room_id)",
            }
        },
        {
            "Put": {
                "TableName": table_name("messages"),
                "Item": message,
                "ConditionExpression": "attribute_not_exists(message_id)",
            }
        },
    ]
    cancelled = transact_reasons([*items, *also, *([claim] if claim else [])])
    if cancelled is None:
        return Put("stored", message["message_id"])
    if cancelled.codes[0] == "ConditionalCheckFailed":
        return Put("not_a_member", message["message_id"])
    if claim and client_ids.own_write(cancelled, message["message_id"]):
        return Put("stored", message["message_id"])
    repeat = client_ids.repeat_of(cancelled, message["message_id"]) if claim else None
    if repeat is not None:
        return Put("repeat", repeat)
    raise RuntimeError(f"could not store the message ({', '.join(cancelled.codes)})")


def get_message(room_id: str, message_id: str) -> MessageItem | None:
    item = (
        table("messages")
        .get_item(Key={"room_id": room_id, "message_id": message_id}, ConsistentRead=True)
        .get("Item")
    )
    return cast(MessageItem | None, item)


def page(
    room_id: str, limit: int, before: str | None, viewer: str | None = None
) -> tuple[list[MessageItem], bool]:
    """Up to `limit` messages older than `before` (newest first), and whether older ones exist.
    With `viewer` (a username), only the messages they may see: none of others' private ones.

    One Query: it asks for one more item than the page to learn whether there are more (more
    when others' private messages had to be left out).
    """
    condition: Any = Key("room_id").eq(room_id)
    if before:
        condition &= Key("message_id").lt(before)
    items = _query_visible(
        viewer, limit + 1, KeyConditionExpression=condition, ScanIndexForward=False
    )
    return items[:limit], len(items) > limit


def newest_between(room_id: str, after: str, before: str, limit: int) -> list[MessageItem]:
    """Up to `limit` messages stored after `after` ("": from the room's start) and before
    `before`, the newest ones, newest first (as many Queries as their size needs)."""
    condition: Any = Key("room_id").eq(room_id)
    if after:
        condition &= Key("message_id").between(after, before)
    else:
        condition &= Key("message_id").lt(before)
    kwargs: dict[str, Any] = {"KeyConditionExpression": condition, "ScanIndexForward": False}
    items: list[MessageItem] = []
    while len(items) < limit:
        response = table("messages").query(Limit=limit - len(items), **kwargs)
        items += cast(list[MessageItem], response["Items"])
        if "LastEvaluatedKey" not in response:
            break
        kwargs["ExclusiveStartKey"] = response["LastEvaluatedKey"]
    return [item for item in items if item["message_id"] not in (after, before)]


def _query_visible(viewer: str | None, want: int, **kwargs: Any) -> list[MessageItem]:
    """Up to `want` items of a Query, those `viewer` may see (all, when None). DynamoDB
    filters after `Limit`, so a page with private messages of others pages on."""
    if viewer is not None:
        kwargs["FilterExpression"] = Attr("visible_to").not_exists() | Attr("visible_to").eq(viewer)
    items: list[MessageItem] = []
    while len(items) < want:
        response = table("messages").query(Limit=want - len(items), **kwargs)
        items += cast(list[MessageItem], response["Items"])
        if viewer is None or "LastEvaluatedKey" not in response:
            break
        kwargs["ExclusiveStartKey"] = response["LastEvaluatedKey"]
    return items


def mark_failed(room_id: str, message_id: str) -> None:
    """A command that will not be answered (it could not be queued): status ``error``."""
    table("messages").update_item(
        Key={"room_id": room_id, "message_id": message_id},
        ConditionExpression="attribute_exists(message_id)",
        **update_expression({"status": "error"}),
    )


def _reply_attribute(generation: int) -> str:
    """The command's attribute naming its reply of one generation: ``reply_id`` for the
    first answer, ``reply_id_<n>`` for the n-th regeneration."""
    return "reply_id" if generation == 0 else f"reply_id_{generation}"


def reply_id(command: MessageItem | None, generation: int) -> str | None:
    """The id of the command's reply of this generation, once it has one."""
    if command is None:
        return None
    found = cast(Mapping[str, Any], command).get(_reply_attribute(generation))
    return str(found) if found else None


def put_reply(reply: MessageItem, generation: int = 0) -> bool:
    """Store a bot reply and mark its command as answered by it for this generation, at once.

    False, and nothing written, when the command already has a reply of that generation or
    no longer exists: a redelivered command must never get a second answer (and a stopped
    queued command, whose reply the stop request wrote, none at all).
    """
    name = table_name("messages")
    codes = transact(
        [
            {
                "Update": {
                    "TableName": name,
                    "Key": {"room_id": reply["room_id"], "message_id": reply["reply_to"]},
                    "UpdateExpression": "SET #reply = :reply",
                    "ConditionExpression": "attribute_exists(message_id) AND attribute_not_exists(#reply)",
                    "ExpressionAttributeNames": {"#reply": _reply_attribute(generation)},
                    "ExpressionAttributeValues": {":reply": reply["message_id"]},
                }
            },
            {
                "Put": {
                    "TableName": name,
                    "Item": reply,
                    "ConditionExpression": "attribute_not_exists(message_id)",
                }
            },
        ]
    )
    if codes is None:
        return True
    if "ConditionalCheckFailed" in codes:
        return False
    raise RuntimeError(f"could not store the bot reply ({', '.join(codes)})")


def page_after(
    room_id: str, limit: int, after: str, viewer: str | None = None
) -> tuple[list[MessageItem], bool]:
    """Up to `limit` messages stored after `after` (oldest first), and whether newer ones
    exist; with `viewer`, those they may see. One Query, asking for one more item than the
    page."""
    items = _query_visible(
        viewer,
        limit + 1,
        KeyConditionExpression=Key("room_id").eq(room_id) & Key("message_id").gt(after),
        ScanIndexForward=True,
    )
    return items[:limit], len(items) > limit


def next_generation(room_id: str, command_id: str) -> int | None:
    """Count one more answer of a command (a regeneration); returns its generation (1, 2 …),
    or None when the command is gone or deleted."""
    written, item = update_if(
        "messages",
        Key={"room_id": room_id, "message_id": command_id},
        UpdateExpression="ADD generations :one",
        ConditionExpression="attribute_exists(message_id) AND "
        "(attribute_not_exists(#deleted) OR #deleted = :false)",
        ExpressionAttributeNames={"#deleted": "deleted"},
        ExpressionAttributeValues={":one": 1, ":false": False},
        ReturnValues="UPDATED_NEW",
    )
    return int(item["generations"]) if written and item else None


# -- a streaming reply: checkpoints and stop requests ------------------------------------
# While a reply streams, its worker writes what it has sent so far (a checkpoint) on the
# condition that nobody asked it to stop; a stop request sets ``stop_requested`` on the
# condition that it still streams. So the two never both succeed silently: the worker's
# next checkpoint fails and it ends the answer as stopped.
# A reply deleted while it streams (a tombstone) is never written again: it ends as stopped.
_LIVE_REPLY = "#status = :streaming AND (attribute_not_exists(#deleted) OR #deleted = :false)"
_STREAMING = f"{_LIVE_REPLY} AND attribute_not_exists(stop_requested)"


def request_stop(room_id: str, message_id: str, requested_at: str) -> bool:
    """Ask the worker streaming this reply to stop; False when it no longer streams."""
    return _conditional_update(
        room_id,
        message_id,
        "SET stop_requested = :at",
        "#status = :streaming",
        {":at": requested_at, ":streaming": "streaming"},
    )


def checkpoint(room_id: str, message_id: str, content: str, seq: int) -> bool:
    """Store the streamed prefix (and the next frame's ``seq``); False when the reply was
    asked to stop (or no longer streams)."""
    return _conditional_update(
        room_id,
        message_id,
        "SET content = :content, stream_seq = :seq",
        _STREAMING,
        {":content": content, ":seq": seq, ":streaming": "streaming"},
    )


def stop_requested(room_id: str, message_id: str) -> bool:
    """Whether the reply was asked to stop, or no longer streams (one consistent read)."""
    item = (
        table("messages")
        .get_item(
            Key={"room_id": room_id, "message_id": message_id},
            ConsistentRead=True,
            ProjectionExpression="#status, stop_requested, #deleted",
            ExpressionAttributeNames={"#status": "status", "#deleted": "deleted"},
        )
        .get("Item")
    )
    return (
        item is None
        or item.get("status") != "streaming"
        or "stop_requested" in item
        or bool(item.get("deleted"))
    )


class ReplyResult(TypedDict, total=False):
    """What an ended answer stores besides its text (attributes left out when unused)."""

    usage: UsageItem
    tool_calls: list[ToolCallItem]
    sources: list[SourceItem]


def end_reply(
    room_id: str,
    message_id: str,
    status: str,
    content: str,
    result: ReplyResult | None = None,
    also: Sequence[dict[str, Any]] = (),
) -> bool:
    """Store a streaming reply's terminal state. ``complete`` and ``error`` only if nobody
    asked it to stop; ``stopped`` whenever it still streams. False when the condition fails.
    ``also``: transaction items written with it, or not at all (the answer's usage).

    The end of an answer must not be lost to a burst of faults: the write is tried again
    when it fails transiently even after botocore's retries. A retry (ours or botocore's)
    of a write that was applied but whose answer was lost then fails its condition: the
    item as it was (ReturnValuesOnConditionCheckFailure) tells that it already holds this
    very end, which is success. A transaction repeats with its ClientRequestToken instead."""
    condition = _LIVE_REPLY if status == "stopped" else _STREAMING
    update = "SET #status = :end, content = :content"
    values: dict[str, Any] = {":end": status, ":content": content, ":streaming": "streaming"}
    names: dict[str, str] = {}
    for name, value in (result or {}).items():
        update += f", #{name} = :{name}"
        names[f"#{name}"], values[f":{name}"] = name, value
    aliases = _aliases(condition, values)
    aliases["ExpressionAttributeNames"].update(names)
    key = {"room_id": room_id, "message_id": message_id}
    if also:
        return _end_reply_with(key, update, condition, aliases, also)
    written = persistently(
        lambda: update_if(
            "messages",
            Key=key,
            UpdateExpression=update,
            ConditionExpression=condition,
            ReturnValuesOnConditionCheckFailure="ALL_OLD",
            **aliases,
        )
    )
    if written.written:
        return True
    old = written.item or {}
    return old.get("status") == status and old.get("content") == content


def _end_reply_with(
    key: dict[str, str],
    update: str,
    condition: str,
    aliases: dict[str, Any],
    also: Sequence[dict[str, Any]],
) -> bool:
    """An answer's end written in one transaction with `also`."""
    reply = {
        "TableName": table_name("messages"),
        "Key": key,
        "UpdateExpression": update,
        "ConditionExpression": condition,
        **aliases,
    }
    codes = transact([{"Update": reply}, *also])
    if codes is None:
        return True
    if codes[0] == "ConditionalCheckFailed":
        return False
    raise RuntimeError(f"the reply's end was cancelled: {codes}")


def _conditional_update(
    room_id: str, message_id: str, update: str, condition: str, values: dict[str, Any]
) -> bool:
    return update_if(
        "messages",
        Key={"room_id": room_id, "message_id": message_id},
        UpdateExpression=update,
        ConditionExpression=condition,
        **_aliases(condition, values),
    ).written


def _aliases(condition: str, values: dict[str, Any]) -> dict[str, Any]:
    """Expression names and values for a reply's condition (only those it uses)."""
    names = {"#status": "status"}
    if "#deleted" in condition:
        names["#deleted"] = "deleted"
        values = {**values, ":false": False}
    return {"ExpressionAttributeNames": names, "ExpressionAttributeValues": values}


def get_messages(keys: list[tuple[str, str]]) -> dict[tuple[str, str], MessageItem]:
    """Messages by (room_id, message_id), read consistently (what a search shows must be
    what is stored now), in chunks of BatchGetItem's maximum; missing ones are left out."""
    return _by_key(batch_get("messages", _message_keys(keys), ConsistentRead=True))


def get_messages_of_member(
    keys: list[tuple[str, str]], user_id: str, room_ids: Sequence[str]
) -> tuple[dict[tuple[str, str], MessageItem], set[str]]:
    """`get_messages`, and which of `room_ids` the user is a member of now
    (`rooms.member_room_ids`), in the same BatchGetItem calls."""
    from chat.dal.rooms import membership_reads  # here: the indexer loads this module only

    found = batch_get_tables(
        {
            "messages": (_message_keys(keys), {"ConsistentRead": True}),
            "memberships": membership_reads(user_id, room_ids),
        }
    )
    return _by_key(found["messages"]), {item["room_id"] for item in found["memberships"]}


def _message_keys(keys: list[tuple[str, str]]) -> list[dict[str, str]]:
    return [{"room_id": room, "message_id": message} for room, message in dict.fromkeys(keys)]


def _by_key(items: list[dict[str, Any]]) -> dict[tuple[str, str], MessageItem]:
    return {(item["room_id"], item["message_id"]): cast(MessageItem, item) for item in items}


def any_older_of_types(room_id: str, message_id: str, types: Sequence[str]) -> bool:
    """Whether the room holds a message older than `message_id` of one of `types`: a Query
    (pages of it only while older messages of other types fill them)."""
    kwargs: dict[str, Any] = {
        "KeyConditionExpression": Key("room_id").eq(room_id) & Key("message_id").lt(message_id),
        "FilterExpression": Attr("message_type").is_in(list(types)),
        "ProjectionExpression": "message_id",
        "ConsistentRead": True,
        "Limit": 100,
    }
    while True:
        response = table("messages").query(**kwargs)
        if response["Items"]:
            return True
        if "LastEvaluatedKey" not in response:
            return False
        kwargs["ExclusiveStartKey"] = response["LastEvaluatedKey"]


AuthorCursor = dict[str, str]  # where a `by_author` page ended (its LastEvaluatedKey)


def by_author(
    user_id: str, after: AuthorCursor | None, limit: int
) -> tuple[list[tuple[str, str]], AuthorCursor | None]:
    """Up to `limit` of a person's messages as (room_id, message_id), oldest first, after
    the cursor a previous page returned; and the cursor of the next page (None: the last).
    One Query of the `by_author` index."""
    kwargs: dict[str, Any] = {
        "IndexName": "by_author",
        "KeyConditionExpression": Key("author_id").eq(user_id),
        "Limit": limit,
    }
    if after:
        kwargs["ExclusiveStartKey"] = after
    response = table("messages").query(**kwargs)
    keys = [(item["room_id"], item["message_id"]) for item in response["Items"]]
    cursor = response.get("LastEvaluatedKey")
    return keys, ({str(k): str(v) for k, v in cursor.items()} if cursor else None)
