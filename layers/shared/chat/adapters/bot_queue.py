"""Sending bot commands to the bot queue (SQS FIFO), as chat.queued_command describes them.

Each command carries the request's correlation id (the API Gateway request id, a message
attribute the worker logs its answer under) and, where the function is traced, the X-Ray
trace header (the `AWSTraceHeader` system attribute: the answer joins the request's trace).
"""

from __future__ import annotations

import os
from typing import Any

from chat import aws
from chat.config import settings
from chat.observability import logger
from chat.queued_command import CORRELATION_ID, QueuedCommand

_TRACE_HEADER = "_X_AMZN_TRACE_ID"  # Lambda's environment variable, set per invocation


def enqueue(command: QueuedCommand) -> None:
    aws.sqs().send_message(
        QueueUrl=settings().bot_queue_url,
        MessageBody=command.body(),
        MessageGroupId=command.group_id,
        MessageDeduplicationId=command.deduplication_id,
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
