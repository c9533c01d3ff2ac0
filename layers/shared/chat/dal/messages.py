"""messages table: (room_id, message_id); message ids sort in storage order."""

from __future__ import annotations

from typing import Any

from boto3.dynamodb.conditions import Key

from chat.dal.tables import table, table_name, transact, update_expression


def put_message(message: dict[str, Any]) -> None:
    table("messages").put_item(Item=message, ConditionExpression="attribute_not_exists(message_id)")


def get_message(room_id: str, message_id: str) -> dict[str, Any] | None:
    return (
        table("messages")
        .get_item(Key={"room_id": room_id, "message_id": message_id}, ConsistentRead=True)
        .get("Item")
    )


def page(room_id: str, limit: int, before: str | None) -> tuple[list[dict[str, Any]], bool]:
    """Up to `limit` messages older than `before` (newest first), and whether older ones exist.

    One Query: it asks for one more item than the page to learn whether there are more.
    """
    condition = Key("room_id").eq(room_id)
    if before:
        condition = condition & Key("message_id").lt(before)
    response = table("messages").query(
        KeyConditionExpression=condition, ScanIndexForward=False, Limit=limit + 1
    )
    items = response["Items"]
    return items[:limit], len(items) > limit


def update_message(room_id: str, message_id: str, fields: dict[str, Any]) -> None:
    table("messages").update_item(
        Key={"room_id": room_id, "message_id": message_id},
        ConditionExpression="attribute_exists(message_id)",
        **update_expression(fields),
    )


def put_reply(command_id: str, reply: dict[str, Any]) -> bool:
    """Store a bot reply and mark its command as answered by it (``reply_id``), at once.

    False, and nothing written, when the command already has a reply or no longer exists:
    a redelivered command must never get a second answer.
    """
    name = table_name("messages")
    codes = transact(
        [
            {
                "Update": {
                    "TableName": name,
                    "Key": {"room_id": reply["room_id"], "message_id": command_id},
                    "UpdateExpression": "SET reply_id = :reply",
                    "ConditionExpression": "attribute_exists(message_id) AND attribute_not_exists(reply_id)",
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
