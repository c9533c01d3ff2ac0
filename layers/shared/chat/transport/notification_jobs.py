"""The notifier's transport: SQS records of the notifications queue in (standard queue,
batches), one job each (chat.adapters.notification_queue).

A record that fails (DynamoDB or the management API failing) is reported and SQS delivers
it again after the queue's visibility timeout, up to the redrive policy's count, then to the
dead-letter queue. A body that is not a job is logged and dropped: no retry can fix it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.batch import (
    BatchProcessor,
    EventType,
    process_partial_response,
)
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

from chat.adapters.notification_queue import NotificationJob
from chat.logic.notifications import notifier
from chat.observability import logger, metrics

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse

_processor = BatchProcessor(event_type=EventType.SQS)


def handle_batch(event: dict[str, Any], lambda_context: Any) -> PartialItemFailureResponse:
    return process_partial_response(
        event=event, record_handler=handle_record, processor=_processor, context=lambda_context
    )


def handle_record(record: SQSRecord) -> None:
    try:
        job = NotificationJob.from_body(record.body)
    except (KeyError, ValueError, TypeError):
        logger.error("not a notification job: dropped", extra={"sqs_message_id": record.message_id})
        metrics.add_metric(name="NotificationJobsMalformed", unit=MetricUnit.Count, value=1)
        return
    keys = job.log_keys()
    logger.append_keys(**keys)
    try:
        notifier.handle(job)
    except Exception:
        logger.exception("notification job failed: retried by SQS")
        metrics.add_metric(name="UnhandledErrors", unit=MetricUnit.Count, value=1)
        raise
    finally:
        logger.remove_keys(list(keys))
