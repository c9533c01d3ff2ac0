"""The bot worker's transport: SQS FIFO records of the bot queue in, one answer each.

One record is one command (``{"room_id", "message_id", "generation"?}``, grouped by room;
a regeneration names its generation, 1, 2 …); the queue
blocks a room until its oldest command is done, and a retry waits out the visibility
timeout. A record that raises fails and SQS retries it (3 receives, then the DLQ);
``skip_group_on_error`` (``handle_batch``) fails the room's later records of the batch
too, so its order holds while other rooms go on.

- A command is not started with less than ``Limits.min_answer`` seconds before the Lambda
  deadline (minus ``Limits.margin`` for the final store and frames): the record fails and
  comes back later, rather than the whole batch timing out.
- The answer is logged under the correlation id of the request that queued it (a message
  attribute), and annotated so in its trace.
- A redelivered command never gets a second answer: Powertools idempotency keyed on the
  command's message_id and generation returns the first run's result; beyond its records
  (expired, or a run that died mid-way) the command itself names its reply of that
  generation (chat.logic.bot.command). A regeneration is another generation, so neither
  guard swallows it.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from functools import lru_cache
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.batch import (
    SqsFifoPartialProcessor,
    process_partial_response,
)
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.idempotency import (
    DynamoDBPersistenceLayer,
    IdempotencyConfig,
    idempotent_function,
)

from chat import observability
from chat.adapters.bot_queue import CORRELATION_ID
from chat.config import settings
from chat.logic.bot import limits
from chat.logic.bot.command import answer_command
from chat.observability import logger, metrics

_IDEMPOTENCY = IdempotencyConfig(
    event_key_jmespath="[message_id, generation]",
    raise_on_no_idempotency_key=True,
    expires_after_seconds=limits.LIMITS.idempotency_seconds,
)


class OutOfTime(Exception):
    """Too little of the invocation is left to answer a command; SQS brings it back."""


_processor = SqsFifoPartialProcessor(skip_group_on_error=True)


def handle_batch(event: dict[str, Any], lambda_context: Any) -> dict[str, Any]:
    """An SQS batch: each record by `handle_record`, in order; a failed record fails its
    room's later records of the batch (the FIFO order) and is reported for a retry."""
    return process_partial_response(
        event=event, record_handler=handle_record, processor=_processor, context=lambda_context
    )


def handle_record(record: SQSRecord, lambda_context: Any) -> dict[str, Any]:
    """The record handler of the SQS batch: one queued command."""
    body = json.loads(record.body)
    command = {
        "room_id": str(body["room_id"]),
        "message_id": str(body["message_id"]),
        "generation": int(body.get("generation") or 0),
    }
    logger.append_keys(**command)
    correlation_id = _correlation_id(record)
    logger.set_correlation_id(correlation_id)
    observability.annotate(correlation_id=correlation_id)
    try:
        deadline = _deadline(lambda_context)
        _IDEMPOTENCY.register_lambda_context(lambda_context)
        answer = _answer_once(str(settings().idempotency_table))
        return answer(command=command, deadline=deadline)
    finally:
        logger.remove_keys(["room_id", "message_id", "generation"])


def _correlation_id(record: SQSRecord) -> str:
    """The correlation id of the request that queued the command (its API Gateway request
    id, chat.adapters.bot_queue), else the SQS message id."""
    attributes = record.message_attributes
    value = attributes[CORRELATION_ID].string_value if CORRELATION_ID in attributes else None
    return value or record.message_id


def _deadline(lambda_context: Any) -> float:
    """When this command's answer must be over (monotonic clock), or OutOfTime."""
    budget = limits.LIMITS
    left = lambda_context.get_remaining_time_in_millis() / 1000 - budget.margin
    if left < budget.min_answer:
        metrics.add_metric(name="BotCommandsDeferred", unit=MetricUnit.Count, value=1)
        raise OutOfTime(f"{left:.1f}s left in this invocation")
    return time.monotonic() + min(left, budget.answer_timeout)


@lru_cache(maxsize=1)
def _answer_once(table_name: str) -> Callable[..., dict[str, Any]]:
    """answer_command made idempotent on the command's message_id; built on first use, once
    per container (its persistence layer makes its own low-level DynamoDB client)."""
    return idempotent_function(
        data_keyword_argument="command",
        persistence_store=DynamoDBPersistenceLayer(table_name=table_name),
        config=_IDEMPOTENCY,
    )(answer_command)
