"""The eraser's transport: SQS records of the account erasure queue in, each one job of
finishing a closed account (chat.logic.accounts.erasure).

A record that raises fails the invocation (a batch is one job: Powertools raises when every
record failed), so Lambda's Errors count it (AccountEraserErrorsAlarm): SQS makes it visible
again after the queue's visibility timeout and, after `maxReceiveCount` receives, moves it
to the dead-letter queue (alarmed). A job that runs short of time sends its continuation and
succeeds: the next record starts where it stopped.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.batch import (
    BatchProcessor,
    EventType,
    process_partial_response,
)
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

from chat.adapters import erasure_queue
from chat.logic.accounts.erasure import finish_closing
from chat.observability import logger, metrics

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse

# Time kept back from the invocation's deadline: the page being erased when it is reached
# (up to 100 messages, 8 at a time) and the continuation's send.
MARGIN_SECONDS = 20.0

_processor = BatchProcessor(event_type=EventType.SQS)


def handle_batch(event: dict[str, Any], lambda_context: Any) -> PartialItemFailureResponse:
    return process_partial_response(
        event=event, record_handler=handle_record, processor=_processor, context=lambda_context
    )


def handle_record(record: SQSRecord, lambda_context: Any) -> None:
    """One job: done, or done as far as time allowed and continued by a new message."""
    job = erasure_queue.ErasureJob.from_body(record.body)
    logger.append_keys(user_id=job.user_id)
    try:
        left = lambda_context.get_remaining_time_in_millis() / 1000 - MARGIN_SECONDS
        progress = finish_closing(job, time.monotonic() + max(left, 0.0))
        if progress.continuation is not None:
            erasure_queue.enqueue(progress.continuation)
            logger.info("erasure continues", extra={"erased": progress.erased})
    except Exception:
        logger.exception("erasure job failed; it will be received again")
        metrics.add_metric(name="UnhandledErrors", unit=MetricUnit.Count, value=1)
        raise
    finally:
        logger.remove_keys(["user_id"])
