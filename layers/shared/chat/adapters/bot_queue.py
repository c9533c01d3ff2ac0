"""Sending bot commands to the bot queue (SQS FIFO), as chat.queued_command describes them."""

from __future__ import annotations

from chat import aws
from chat.config import settings
from chat.queued_command import QueuedCommand


def enqueue(command: QueuedCommand) -> None:
    aws.sqs().send_message(
        QueueUrl=settings().bot_queue_url,
        MessageBody=command.body(),
        MessageGroupId=command.group_id,
        MessageDeduplicationId=command.deduplication_id,
    )
