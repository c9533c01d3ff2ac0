"""Sending bot commands to the SQS FIFO queue: one message group per room, so a room's
commands are answered one at a time and in order while rooms run in parallel."""

from __future__ import annotations

import json

from chat import clients
from chat.config import settings


def enqueue_command(room_id: str, message_id: str) -> None:
    clients.sqs().send_message(
        QueueUrl=settings().bot_queue_url,
        MessageBody=json.dumps({"room_id": room_id, "message_id": message_id}),
        MessageGroupId=room_id,
        MessageDeduplicationId=message_id,
    )
