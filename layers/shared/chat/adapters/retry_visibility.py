"""Quick retries of failed SQS records: a short, growing visibility timeout.

Lambda's SQS event source leaves a failed record on the queue, invisible for the rest of the
queue's visibility timeout (12 minutes for the bot queue, six times the worker's timeout as
AWS advises). On a FIFO queue that blocks the record's whole message group (a room) for as
long. `backs_off_failed_records` wraps a batch handler: every record the handler reports as
failed (or every record, when the whole batch raised) is made visible again after
``delay(receive_count)`` seconds: 2, 4, 8, 16, then 30 s at most. A transient failure
(throttled DynamoDB, KMS unreachable) therefore stalls a room for seconds; one that keeps
failing reaches the dead-letter queue after the redrive policy's maxReceiveCount receives.
A record the handler knows cannot succeed before some time (``hold``) waits that long.

Needs ``sqs:ChangeMessageVisibility`` and ``sqs:GetQueueUrl`` on the queue. A failure to
change the visibility is logged and ignored: the record then comes back after the full
visibility timeout, as it would have without this.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.batch.exceptions import BatchProcessingError

from chat import aws
from chat.observability import logger, metrics

FIRST_DELAY = 2  # seconds before the first retry
MAX_DELAY = 30  # no retry waits longer than this

_queue_urls: dict[str, str] = {}  # queue ARN -> URL, once per container
_held: dict[str, int] = {}  # SQS message id -> seconds it must wait at least (`hold`)


def hold(sqs_message_id: str, seconds: int) -> None:
    """Make a record that fails in this invocation wait at least `seconds` before it comes
    back (instead of ``delay``): it cannot succeed sooner, and each early receive would
    bring it closer to the dead-letter queue for nothing."""
    _held[sqs_message_id] = max(seconds, _held.get(sqs_message_id, 0))


def delay(receive_count: int) -> int:
    """Seconds before a record received ``receive_count`` times is tried again."""
    return min(MAX_DELAY, FIRST_DELAY * 2 ** max(0, receive_count - 1))


def backs_off_failed_records(
    handler: Callable[[dict[str, Any], Any], dict[str, Any]],
) -> Callable[[dict[str, Any], Any], dict[str, Any]]:
    """Wrap an SQS batch handler returning ``batchItemFailures`` (ReportBatchItemFailures)."""

    @functools.wraps(handler)
    def wrapper(event: dict[str, Any], context: Any) -> dict[str, Any]:
        records = event.get("Records") or []
        _held.clear()  # holds are for this invocation's records
        try:
            response = handler(event, context)
        except BatchProcessingError:  # every record failed (Powertools raises then)
            back_off(records)
            raise
        failed = {item["itemIdentifier"] for item in (response or {}).get("batchItemFailures", [])}
        back_off(record for record in records if record["messageId"] in failed)
        return response

    return wrapper


def back_off(records: Iterable[dict[str, Any]]) -> None:
    """Make each failed record visible again after ``delay`` of its receive count."""
    for record in records:
        receive_count = int((record.get("attributes") or {}).get("ApproximateReceiveCount", 1))
        seconds = max(delay(receive_count), _held.pop(record["messageId"], 0))
        try:
            aws.sqs().change_message_visibility(
                QueueUrl=_queue_url(record["eventSourceARN"]),
                ReceiptHandle=record["receiptHandle"],
                VisibilityTimeout=seconds,
            )
        except Exception as exc:
            logger.warning(
                "could not shorten a failed record's visibility timeout",
                extra={"error_type": type(exc).__name__, "sqs_message_id": record["messageId"]},
            )
            continue
        metrics.add_metric(name="RecordsRetriedSoon", unit=MetricUnit.Count, value=1)
        logger.info(
            "failed record retried soon",
            extra={
                "sqs_message_id": record["messageId"],
                "receive_count": receive_count,
                "retry_in_seconds": seconds,
            },
        )


def _queue_url(queue_arn: str) -> str:
    url = _queue_urls.get(queue_arn)
    if url is None:
        *_, account, name = queue_arn.split(":")
        url = aws.sqs().get_queue_url(QueueName=name, QueueOwnerAWSAccountId=account)["QueueUrl"]
        _queue_urls[queue_arn] = url
    return url
