"""Sending bot commands to the SQS FIFO queue: one message group per room, so a room's
commands are answered one at a time and in order while rooms run in parallel.

A regeneration (``generation`` 1, 2 …) is the same command queued again: its body names
the generation and its deduplication id is the command's id with the generation, so FIFO
deduplication drops a resend of one request but never a deliberate regeneration.

Each command carries the request's correlation id (the API Gateway request id, a message
attribute the worker logs its answer under) and, where the function is traced, the X-Ray
trace header (the `AWSTraceHeader` system attribute: the answer joins the request's trace).
"""

from __future__ import annotations

import json
import os
from typing import Any

from chat import clients
from chat.config import settings
from chat.observability import logger

CORRELATION_ID = "correlation_id"  # the message attribute
_TRACE_HEADER = "_X_AMZN_TRACE_ID"  # Lambda's environment variable, set per invocation


def enqueue_command(room_id: str, message_id: str, generation: int = 0) -> None:
    body: dict[str, object] = {"room_id": room_id, "message_id": message_id}
    if generation:
        body["generation"] = generation
    clients.sqs().send_message(
        QueueUrl=settings().bot_queue_url,
        MessageBody=json.dumps(body),
        MessageGroupId=room_id,
        MessageDeduplicationId=message_id if not generation else f"{message_id}.{generation}",
        **_tracing(),
    )


def _tracing() -> dict[str, Any]:
    """The message attributes that carry the request's correlation id and trace."""
    extra: dict[str, Any] = {}
    correlation_id = logger.get_correlation_id()
    if correlation_id:
        extra["MessageAttributes"] = {
            CORRELATION_ID: {"DataType": "String", "StringValue": str(correlation_id)}
        }
    trace_header = os.environ.get(_TRACE_HEADER)
    if trace_header:
        extra["MessageSystemAttributes"] = {
            "AWSTraceHeader": {"DataType": "String", "StringValue": trace_header}
        }
    return extra
