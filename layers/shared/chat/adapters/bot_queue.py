"""Sending bot commands to the SQS FIFO queue: one message group per room, so a room's
commands are answered one at a time and in order while rooms run in parallel.

A regeneration (``generation`` 1, 2 …) is the same command queued again: its body names
the generation and its deduplication id is the command's id with the generation, so FIFO
deduplication drops a resend of one request but never a deliberate regeneration.
"""

from __future__ import annotations

import json

from chat import aws
from chat.config import settings


def enqueue_command(room_id: str, message_id: str, generation: int = 0) -> None:
    body: dict[str, object] = {"room_id": room_id, "message_id": message_id}
    if generation:
        body["generation"] = generation
    aws.sqs().send_message(
        QueueUrl=settings().bot_queue_url,
        MessageBody=json.dumps(body),
        MessageGroupId=room_id,
        MessageDeduplicationId=message_id if not generation else f"{message_id}.{generation}",
    )
