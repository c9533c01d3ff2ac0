"""The search indexer's transport: DynamoDB Stream records of the messages table in, the
search index kept in step (chat.logic.search.indexing).

One record is one change of one message, with its old and new images (the stream's view is
NEW_AND_OLD_IMAGES). Records are handled in order; a record that raises is reported as a
batch item failure (its sequence number), and Lambda retries the batch from there: the
records after it again too, which is safe, since applying a change again leaves the same
index. After the event source's retries a failed batch is recorded on its on-failure
destination (the indexer's dead-letter queue) and the shard moves on. The buckets' heads the
batch changed are written after its records; if that fails, the invocation fails and the
whole batch is retried (bisected), which is as safe.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.batch import (
    BatchProcessor,
    EventType,
    process_partial_response,
)
from aws_lambda_powertools.utilities.data_classes.dynamo_db_stream_event import DynamoDBRecord

from chat.logic.search.heads import HeadBatch
from chat.logic.search.indexing import apply_change
from chat.observability import logger, metrics

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse

_processor = BatchProcessor(event_type=EventType.DynamoDBStreams)


def handle_batch(event: dict[str, Any], lambda_context: Any) -> PartialItemFailureResponse:
    """A batch of stream records; `batchItemFailures` names the records that failed."""
    heads = HeadBatch()
    response = process_partial_response(
        event=event,
        record_handler=lambda record: handle_record(record, heads),
        processor=_processor,
        context=lambda_context,
    )
    heads.flush()
    return response


def handle_record(record: DynamoDBRecord, heads: HeadBatch) -> None:
    """One change of one message."""
    change = record.dynamodb
    if change is None:  # pragma: no cover - every DynamoDB Stream record has one
        return
    keys = change.keys
    logger.append_keys(room_id=keys.get("room_id"), message_id=keys.get("message_id"))
    try:
        applied = apply_change(change.old_image or None, change.new_image or None, heads)
    except Exception:
        # Reported as a batch item failure and retried; counted, since a change that keeps
        # failing is a bug or a throttled index (UnhandledErrorsAlarm).
        logger.exception("message change not indexed")
        metrics.add_metric(name="UnhandledErrors", unit=MetricUnit.Count, value=1)
        raise
    finally:
        logger.remove_keys(["room_id", "message_id"])
    metrics.add_metric(name="SearchRecordsIndexed", unit=MetricUnit.Count, value=1)
    if applied.puts or applied.deletes:
        metrics.add_metric(
            name="SearchPostingsWritten",
            unit=MetricUnit.Count,
            value=applied.puts + applied.deletes,
        )
