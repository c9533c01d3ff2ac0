"""The fan-out function's transport: SQS records of the fan-out queue in (FIFO, grouped by room
and bucket), one shard of a big room's broadcast each (chat.queued_shard), pushed by
chat.logic.realtime.presence.send_shard.

A record that raises fails alone (ReportBatchItemFailures) and comes back after a short,
growing delay (chat.adapters.retry_visibility, around the handler), its group's later
records waiting behind it; after the queue's maxReceiveCount receives it goes to the
dead-letter queue. A shard with throttled pushes fails so on purpose (``ShardIncomplete``:
its next delivery pushes those only); a gone connection or a failed push is handled in it.
A record that is not a shard fails at once and is logged: it can only reach the
dead-letter queue.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.batch import (
    SqsFifoPartialProcessor,
    process_partial_response,
)
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

from chat.logic.realtime import presence
from chat.logic.realtime.broadcast import ShardIncomplete
from chat.observability import logger, metrics
from chat.queued_command import CORRELATION_ID
from chat.queued_shard import QueuedShard

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse

# A failed record fails its group's later records of the batch too: a bucket's order holds.
_processor = SqsFifoPartialProcessor(skip_group_on_error=True)


def handle_batch(event: dict[str, Any], lambda_context: Any) -> PartialItemFailureResponse:
    """An SQS batch of shards; `batchItemFailures` names the records that failed."""
    return process_partial_response(
        event=event,
        record_handler=lambda record: handle_record(record, lambda_context),
        processor=_processor,
        context=lambda_context,
    )


def handle_record(record: SQSRecord, lambda_context: Any) -> None:
    """One shard: pushed, unless it was already."""
    try:
        shard = QueuedShard.from_body(record.body)
    except (KeyError, ValueError, TypeError):
        logger.error("not a shard", extra={"sqs_message_id": record.message_id})
        raise
    attribute = record.message_attributes[CORRELATION_ID]  # None when absent
    logger.set_correlation_id(attribute.string_value if attribute else record.message_id)
    keys = shard.log_keys()
    logger.append_keys(**keys)
    try:
        result = presence.send_shard(
            shard, lambda: lambda_context.get_remaining_time_in_millis() / 1000
        )
    except ShardIncomplete as exc:  # throttled: the record comes back after seconds
        logger.info("shard left for later", extra={"reason": str(exc)})
        raise
    except Exception:
        logger.exception("shard not pushed")
        metrics.add_metric(name="UnhandledErrors", unit=MetricUnit.Count, value=1)
        raise
    finally:
        logger.remove_keys(list(keys))
    if result is not None:
        logger.debug(
            "shard pushed", extra={"delivered": result.delivered, "gone": len(result.gone)}
        )
