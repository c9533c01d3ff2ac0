"""The bot worker's transport: SQS FIFO records of the bot queue in, one answer each.

One record is one command (chat.queued_command), grouped by room; the queue
blocks a room until its oldest command is done, and a retry waits out the visibility
timeout. A record that raises fails and SQS retries it (3 receives, then the DLQ);
``skip_group_on_error`` (``handle_batch``) fails the room's later records of the batch
too, so its order holds while other rooms go on.

- A command is not started with less than ``AnswerBudget.min_answer`` seconds before the Lambda
  deadline (minus ``AnswerBudget.margin`` for the final store and frames): the record fails and
  comes back later, rather than the whole batch timing out.
- The answer is logged under the correlation id of the request that queued it (a message
  attribute), and annotated so in its trace.
- A redelivered command never gets a second answer: Powertools idempotency keyed on the
  command's message_id and generation returns the first run's result; beyond its records
  (expired, or a run that died mid-way) the command itself names its reply of that
  generation (chat.logic.bot.command). A regeneration is another generation, so neither
  guard swallows it.
- A command whose idempotency record is held "in progress" (by a run that died, or by this
  very run's write whose answer was lost and whose retry then found it) cannot run until
  the hold expires, at most the invocation's time later: the record fails and comes back
  after that long (chat.adapters.retry_visibility.hold), not after the usual seconds that
  would spend its receives and send it to the dead-letter queue unanswered.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from functools import lru_cache
from typing import TYPE_CHECKING, Any

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
from aws_lambda_powertools.utilities.idempotency.exceptions import (
    IdempotencyAlreadyInProgressError,
)

from chat import observability
from chat.adapters import retry_visibility
from chat.config import settings
from chat.logic.bot import budget
from chat.logic.bot.answer import Result
from chat.logic.bot.command import answer_command
from chat.observability import logger, metrics
from chat.queued_command import CORRELATION_ID, QueuedCommand

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse

_IDEMPOTENCY = IdempotencyConfig(
    event_key_jmespath="[message_id, generation]",
    raise_on_no_idempotency_key=True,
    expires_after_seconds=budget.BUDGET.idempotency_seconds,
)


class OutOfTime(Exception):
    """Too little of the invocation is left to answer a command; SQS brings it back."""


_processor = SqsFifoPartialProcessor(skip_group_on_error=True)


def handle_batch(event: dict[str, Any], lambda_context: Any) -> PartialItemFailureResponse:
    """An SQS batch: each record by `handle_record`, in order; a failed record fails its
    room's later records of the batch (the FIFO order) and is reported for a retry."""
    return process_partial_response(
        event=event, record_handler=handle_record, processor=_processor, context=lambda_context
    )


def handle_record(record: SQSRecord, lambda_context: Any) -> Result:
    """The record handler of the SQS batch: one queued command."""
    command = QueuedCommand.from_body(record.body)
    keys = command.log_keys()
    logger.append_keys(**keys)
    correlation_id = _correlation_id(record)
    logger.set_correlation_id(correlation_id)
    observability.annotate(correlation_id=correlation_id)
    try:
        deadline = _deadline(lambda_context)
        _IDEMPOTENCY.register_lambda_context(lambda_context)
        answer = _answer_once(str(settings().idempotency_table))
        return answer(command=command, deadline=deadline)
    except IdempotencyAlreadyInProgressError:
        held_for = math.ceil(lambda_context.get_remaining_time_in_millis() / 1000) + 5
        logger.warning("bot command held in progress; retried later", extra={"seconds": held_for})
        metrics.add_metric(name="BotCommandsHeld", unit=MetricUnit.Count, value=1)
        retry_visibility.hold(record.message_id, held_for)
        raise
    finally:
        logger.remove_keys(list(keys))


def _correlation_id(record: SQSRecord) -> str:
    """The correlation id of the request that queued the command (its API Gateway request
    id, chat.adapters.bot_queue), else the SQS message id."""
    attribute = record.message_attributes[CORRELATION_ID]  # None when absent
    value = attribute.string_value if attribute is not None else None
    return value or record.message_id


def _deadline(lambda_context: Any) -> float:
    """When this command's answer must be over (monotonic clock), or OutOfTime."""
    rules = budget.BUDGET
    left = lambda_context.get_remaining_time_in_millis() / 1000 - rules.margin
    if left < rules.min_answer:
        metrics.add_metric(name="BotCommandsDeferred", unit=MetricUnit.Count, value=1)
        raise OutOfTime(f"{left:.1f}s left in this invocation")
    return time.monotonic() + min(left, rules.answer_timeout)


@lru_cache(maxsize=1)
def _answer_once(table_name: str) -> Callable[..., Result]:
    """answer_command made idempotent on the command's message_id; built on first use, once
    per container (its persistence layer makes its own low-level DynamoDB client)."""
    return idempotent_function(
        data_keyword_argument="command",
        persistence_store=DynamoDBPersistenceLayer(table_name=table_name),
        config=_IDEMPOTENCY,
    )(answer_command)
