"""Sending shards of a big room's fan-out to the fan-out queue (SQS FIFO), as
chat.queued_shard describes them (a message group per room and bucket, the shard's id as the
deduplication id): SendMessageBatch calls of up to 10 messages and 256 KiB (``batches``),
the request's correlation id as a message attribute.

A shard that could not be queued (the call failed, or SQS refused its entry) is returned,
never dropped: the caller pushes to its connections itself.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

from chat import aws
from chat.config import settings
from chat.observability import logger
from chat.queued_command import CORRELATION_ID
from chat.queued_shard import QueuedShard

SQS_BATCH_ENTRIES = 10  # SendMessageBatch's limit
SQS_BATCH_BYTES = 256 * 1024  # a message, and a whole batch


def available() -> bool:
    """Whether this function has the fan-out queue (the functions that push to rooms do)."""
    return bool(settings().fanout_queue_url)


def send(shards: Sequence[QueuedShard]) -> list[QueuedShard]:
    """Queue the shards; the ones not queued."""
    bodies = [shard.body() for shard in shards]
    unsent: list[QueuedShard] = []
    for indexes in batches(bodies):
        entries = [_entry(str(i), shards[i], bodies[i]) for i in indexes]
        try:
            response = aws.sqs().send_message_batch(
                QueueUrl=settings().fanout_queue_url, Entries=entries
            )
        except Exception as exc:  # the caller pushes these itself
            logger.warning("could not queue shards", extra={"error_type": type(exc).__name__})
            unsent += [shards[i] for i in indexes]
            continue
        failed = response.get("Failed") or []
        if failed:
            logger.warning("SQS refused shards", extra={"codes": [f["Code"] for f in failed]})
        unsent += [shards[int(f["Id"])] for f in failed]
    return unsent


def _entry(entry_id: str, shard: QueuedShard, body: str) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "Id": entry_id,
        "MessageBody": body,
        "MessageGroupId": shard.group_id,
        "MessageDeduplicationId": shard.deduplication_id,
    }
    correlation_id = logger.get_correlation_id()
    if correlation_id:
        entry["MessageAttributes"] = {
            CORRELATION_ID: {"DataType": "String", "StringValue": str(correlation_id)}
        }
    return entry


def batches(bodies: Sequence[str]) -> Iterator[list[int]]:
    """The indexes of ``bodies`` grouped into SendMessageBatch calls: at most 10 messages and
    256 KiB (UTF-8) each; a body alone over the limit raises ValueError."""
    batch: list[int] = []
    size = 0
    for index, body in enumerate(bodies):
        length = len(body.encode("utf-8"))
        if length > SQS_BATCH_BYTES:
            raise ValueError(f"a shard of {length} bytes is over SQS's message limit")
        if batch and (len(batch) == SQS_BATCH_ENTRIES or size + length > SQS_BATCH_BYTES):
            yield batch
            batch, size = [], 0
        batch.append(index)
        size += length
    if batch:
        yield batch
