"""Event source mappings: Lambda's pollers of SQS queues and DynamoDB Streams, locally.

SQS (`SqsPoller`):
Like Lambda's: long-polls the queue, invokes the function with batches of up to BatchSize
records in the SQS event shape, deletes the records of a successful batch, and with
`ReportBatchItemFailures` deletes all but the reported ones. Failed records are left alone:
they come back after the queue's VisibilityTimeout, and SQS moves them to the redrive
policy's dead-letter queue after maxReceiveCount receives (moto does this on receive).

FIFO queues: a batch holds one message group only, in order; SQS itself does not hand
out a group's next messages while earlier ones are in flight, so each group has at most
one batch in flight while different groups run in parallel.

DynamoDB Streams (`StreamPoller`): each shard is read from its StartingPosition, in order, a
batch at a time (up to BatchSize records, waiting at most the batching window for more),
as Lambda does with ParallelizationFactor 1. A batch is retried until it succeeds: with
`ReportBatchItemFailures` from the lowest failed sequence number on, after a function
error split in halves (`BisectBatchOnFunctionError`). After MaximumRetryAttempts retries it
is recorded on the on-failure destination (an SQS queue: the shard, the sequence numbers,
as Lambda's record of a failed batch has them) and the shard moves on.

With `faults` (local.faults), a share of the SQS batches is delivered twice (the function is
invoked again with the records it just processed, before they are deleted, as Lambda's
at-least-once delivery may) or late (0.5-5 s).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
import uuid
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from local.events import dynamodb_stream_event, sqs_event
from local.faults import Fault, Faults
from local.lambda_runtime import InvokeResult
from local.model import SqsSourceSpec, StreamSourceSpec

log = logging.getLogger("local")

Invoke = Callable[..., Awaitable[InvokeResult]]
POLL_WAIT_SECONDS = 1  # long-poll in short slices so that stopping is quick


class SqsPoller:
    def __init__(
        self,
        spec: SqsSourceSpec,
        sqs: Any,
        invoke: Invoke,
        *,
        region: str,
        max_concurrency: int,
        faults: Faults | None = None,
    ):
        self.spec = spec
        self.faults = faults
        self.sqs = sqs  # a boto3 SQS client on moto (used from worker threads)
        self.invoke = invoke
        self.region = region
        self.slots = asyncio.Semaphore(
            min(max_concurrency, spec.maximum_concurrency or max_concurrency)
        )
        self._task: asyncio.Task[None] | None = None
        self._batches: set[asyncio.Task[None]] = set()
        # Its own threads for the blocking SQS calls: stopping waits for them (a long poll
        # lasts POLL_WAIT_SECONDS at most) before moto goes away under them.
        self._executor = ThreadPoolExecutor(
            max_workers=4, thread_name_prefix=f"sqs-{spec.queue_logical_id}"
        )

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name=f"sqs-{self.spec.queue_logical_id}")

    async def stop(self) -> None:
        tasks = [task for task in (self._task, *self._batches) if task is not None]
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        await asyncio.to_thread(self._executor.shutdown, wait=True, cancel_futures=True)

    async def _call(self, method: Callable[..., Any], **kwargs: Any) -> Any:
        return await asyncio.get_running_loop().run_in_executor(
            self._executor, lambda: method(**kwargs)
        )

    async def _run(self) -> None:
        while True:
            await self.slots.acquire()  # a free worker before taking messages off the queue
            try:
                messages = await self._receive()
            except asyncio.CancelledError:
                self.slots.release()
                raise
            except Exception as exc:
                self.slots.release()
                log.warning("SQS %s: receive failed: %s", self.spec.queue_logical_id, exc)
                await asyncio.sleep(1)
                continue
            if not messages:
                self.slots.release()
                continue
            batches = _batches(messages, self.spec.fifo, self.spec.batch_size)
            for index, batch in enumerate(batches):
                if index > 0:
                    await self.slots.acquire()
                task = asyncio.create_task(self._process(batch))
                self._batches.add(task)
                task.add_done_callback(self._batches.discard)

    async def _receive(self) -> list[dict[str, Any]]:
        """Up to BatchSize messages, waiting at most the batching window for more than one."""
        deadline = time.monotonic() + self.spec.batching_window
        messages: list[dict[str, Any]] = []
        while True:
            wanted = min(10, self.spec.batch_size - len(messages))
            response = await self._call(
                self.sqs.receive_message,
                QueueUrl=self.spec.queue_url,
                MaxNumberOfMessages=wanted,
                WaitTimeSeconds=0 if messages else POLL_WAIT_SECONDS,
                MessageSystemAttributeNames=["All"],
                MessageAttributeNames=["All"],
            )
            received = response.get("Messages") or []
            messages += received
            if (
                not received
                or len(messages) >= self.spec.batch_size
                or time.monotonic() >= deadline
            ):
                return messages

    async def _process(self, messages: list[dict[str, Any]]) -> None:
        try:
            fault = self.faults.next() if self.faults is not None else None
            if fault is not None and fault.kind == "delay":
                await self._late(fault, messages)
            started = time.monotonic()
            event = sqs_event(messages, self.spec.queue_arn, self.region)
            records = event["Records"]
            result = await self.invoke(self.spec.function, event)
            failed = self._failed_ids(result, records)
            done = [m for m in messages if m["MessageId"] not in failed]
            if fault is not None and fault.kind == "duplicate" and done:
                await self._again(fault, done)
            await self._delete(done)
            group = records[0]["attributes"].get("MessageGroupId")
            log.info(
                "SQS %s%s -> %s: %d record(s), %d failed (%.0f ms%s)",
                self.spec.queue_logical_id,
                f" [group {group}]" if group else "",
                self.spec.function,
                len(records),
                len(failed),
                (time.monotonic() - started) * 1000,
                ", cold start" if result.cold_start else "",
            )
        except Exception:
            log.exception("SQS %s: processing a batch failed", self.spec.queue_logical_id)
        finally:
            self.slots.release()

    async def _late(self, fault: Fault, messages: list[dict[str, Any]]) -> None:
        seconds = 0.5 + 4.5 * fault.variant
        fault.log(
            f"{len(messages)} record(s) of {self.spec.queue_logical_id} delivered {seconds:.1f} s late"
        )
        await asyncio.sleep(seconds)

    async def _again(self, fault: Fault, messages: list[dict[str, Any]]) -> None:
        """The processed records delivered once more (received once more, as SQS counts)."""
        again = []
        for message in messages:
            attributes = dict(message.get("Attributes") or {})
            count = int(attributes.get("ApproximateReceiveCount", "1"))
            attributes["ApproximateReceiveCount"] = str(count + 1)
            again.append({**message, "Attributes": attributes})
        result = await self.invoke(
            self.spec.function, sqs_event(again, self.spec.queue_arn, self.region)
        )
        fault.log(
            f"{len(again)} record(s) of {self.spec.queue_logical_id} delivered again -> "
            f"{self.spec.function} {'ok' if result.ok else (result.error or {}).get('errorType')}"
        )

    def _failed_ids(self, result: InvokeResult, records: list[dict[str, Any]]) -> set[str]:
        """The records to leave on the queue, by Lambda's rules for batch responses."""
        everything = {record["messageId"] for record in records}
        if not result.ok:
            return everything
        if not self.spec.report_batch_item_failures:
            return set()
        payload = result.payload
        if payload is None or payload == {}:
            return set()
        if not isinstance(payload, dict):
            return everything
        failures = payload.get("batchItemFailures")
        if not failures:
            return set()
        failed: set[str] = set()
        for failure in failures:
            identifier = failure.get("itemIdentifier") if isinstance(failure, dict) else None
            if not identifier or identifier not in everything:
                log.warning(
                    "SQS %s: invalid batchItemFailures entry %r: the whole batch failed",
                    self.spec.function,
                    failure,
                )
                return everything
            failed.add(identifier)
        return failed

    async def _delete(self, messages: list[dict[str, Any]]) -> None:
        for start in range(0, len(messages), 10):
            chunk = messages[start : start + 10]
            await self._call(
                self.sqs.delete_message_batch,
                QueueUrl=self.spec.queue_url,
                Entries=[
                    {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(chunk)
                ],
            )


def _batches(
    messages: list[dict[str, Any]], fifo: bool, batch_size: int
) -> list[list[dict[str, Any]]]:
    """FIFO: one batch per message group, in the order received; standard: one batch."""
    if not fifo:
        return [messages[i : i + batch_size] for i in range(0, len(messages), batch_size)]
    groups: dict[str, list[dict[str, Any]]] = {}
    for message in messages:
        groups.setdefault((message.get("Attributes") or {}).get("MessageGroupId", ""), []).append(
            message
        )
    return list(groups.values())


# ---------------------------------------------------------------------- DynamoDB Streams
STREAM_POLL_SECONDS = 0.25  # Lambda polls a stream's shards four times a second
RETRY_PAUSE_SECONDS = 0.5  # between attempts of a failed batch (doubling, up to 8 s)


class StreamPoller:
    def __init__(
        self, spec: StreamSourceSpec, streams: Any, sqs: Any, invoke: Invoke, *, region: str
    ):
        self.spec = spec
        self.streams = streams  # a boto3 dynamodbstreams client on moto
        self.sqs = sqs
        self.invoke = invoke
        self.region = region
        self._tasks: dict[str, asyncio.Task[None]] = {}  # shard id -> its reader
        self._watcher: asyncio.Task[None] | None = None
        self._executor = ThreadPoolExecutor(
            max_workers=2, thread_name_prefix=f"stream-{spec.table_logical_id}"
        )

    @property
    def name(self) -> str:
        return f"Stream {self.spec.table_logical_id} -> {self.spec.function}"

    def start(self) -> None:
        self._watcher = asyncio.create_task(self._watch_shards(), name=self.name)

    async def stop(self) -> None:
        tasks = [task for task in (self._watcher, *self._tasks.values()) if task is not None]
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        await asyncio.to_thread(self._executor.shutdown, wait=True, cancel_futures=True)

    async def _call(self, method: Callable[..., Any], **kwargs: Any) -> Any:
        return await asyncio.get_running_loop().run_in_executor(
            self._executor, lambda: method(**kwargs)
        )

    async def _watch_shards(self) -> None:
        """A reader per shard, for the shards there are and the ones that come."""
        while True:
            try:
                description = await self._call(
                    self.streams.describe_stream, StreamArn=self.spec.stream_arn
                )
                for shard in description["StreamDescription"]["Shards"]:
                    shard_id = shard["ShardId"]
                    if shard_id not in self._tasks:
                        self._tasks[shard_id] = asyncio.create_task(self._read_shard(shard_id))
            except Exception as exc:
                log.warning("%s: describing the stream failed: %s", self.name, exc)
            await asyncio.sleep(10)

    async def _read_shard(self, shard_id: str) -> None:
        iterator = (
            await self._call(
                self.streams.get_shard_iterator,
                StreamArn=self.spec.stream_arn,
                ShardId=shard_id,
                ShardIteratorType=self.spec.starting_position,
            )
        )["ShardIterator"]
        while True:
            try:
                records, iterator = await self._next_batch(iterator)
            except Exception as exc:
                log.warning("%s: reading shard %s failed: %s", self.name, shard_id, exc)
                await asyncio.sleep(1)
                continue
            if not records:
                await asyncio.sleep(STREAM_POLL_SECONDS)
                continue
            try:
                await self._deliver(shard_id, records)
            except Exception:
                log.exception("%s: delivering a batch failed", self.name)

    async def _next_batch(self, iterator: str) -> tuple[list[dict[str, Any]], str]:
        """Up to BatchSize records, waiting at most the batching window for more than one."""
        deadline = time.monotonic() + self.spec.batching_window
        records: list[dict[str, Any]] = []
        while True:
            response = await self._call(
                self.streams.get_records,
                ShardIterator=iterator,
                Limit=self.spec.batch_size - len(records),
            )
            records += response.get("Records") or []
            iterator = response["NextShardIterator"]
            if not records or len(records) >= self.spec.batch_size:
                return records, iterator
            if time.monotonic() >= deadline:
                return records, iterator
            await asyncio.sleep(min(STREAM_POLL_SECONDS, max(0.0, deadline - time.monotonic())))

    async def _deliver(self, shard_id: str, records: list[dict[str, Any]]) -> None:
        """Invoke the function until the batch succeeds, is split, or runs out of retries."""
        attempts = 0
        while records:
            started = time.monotonic()
            event = dynamodb_stream_event(records, self.spec.stream_arn, self.region)
            result = await self.invoke(self.spec.function, event)
            failed_from = self._failed_from(result, records)
            log.info(
                "%s: %d record(s), %s (%.0f ms%s)",
                self.name,
                len(records),
                "ok" if failed_from is None else f"{len(records) - failed_from} to retry",
                (time.monotonic() - started) * 1000,
                ", cold start" if result.cold_start else "",
            )
            if failed_from is None:
                return
            if not result.ok and self.spec.bisect_on_error and len(records) > 1:
                half = len(records) // 2
                await self._deliver(shard_id, records[:half])
                await self._deliver(shard_id, records[half:])
                return
            records = records[failed_from:]
            attempts += 1
            limit = self.spec.maximum_retry_attempts
            if limit is not None and attempts > limit:
                await self._give_up(shard_id, records, attempts, result)
                return
            await asyncio.sleep(min(RETRY_PAUSE_SECONDS * 2 ** (attempts - 1), 8.0))

    def _failed_from(self, result: InvokeResult, records: list[dict[str, Any]]) -> int | None:
        """Where the retry starts (an index into `records`); None when all succeeded."""
        if not result.ok:
            return 0
        payload = result.payload
        if not self.spec.report_batch_item_failures or not isinstance(payload, dict):
            return None
        failures = payload.get("batchItemFailures")
        if not failures:
            return None
        positions = {r["dynamodb"]["SequenceNumber"]: n for n, r in enumerate(records)}
        found = []
        for failure in failures:
            identifier = failure.get("itemIdentifier") if isinstance(failure, dict) else None
            if identifier not in positions:
                log.warning("%s: invalid batchItemFailures entry %r", self.name, failure)
                return 0
            found.append(positions[identifier])
        return min(found)

    async def _give_up(
        self, shard_id: str, records: list[dict[str, Any]], attempts: int, result: InvokeResult
    ) -> None:
        first, last = records[0]["dynamodb"], records[-1]["dynamodb"]
        log.warning(
            "%s: %d record(s) failed %d times; recorded on the on-failure destination",
            self.name,
            len(records),
            attempts,
        )
        if self.spec.on_failure_queue_url is None:
            return
        body = {
            "requestContext": {
                "requestId": str(uuid.uuid4()),
                "functionArn": self.spec.function_arn,
                "condition": "RetryAttemptsExhausted",
                "approximateInvokeCount": attempts,
            },
            "responseContext": {
                "statusCode": 200,
                "executedVersion": "$LATEST",
                "functionError": None if result.ok else "Unhandled",
            },
            "version": "1.0",
            "timestamp": _iso(time.time()),
            "DDBStreamBatchInfo": {
                "shardId": shard_id,
                "startSequenceNumber": first["SequenceNumber"],
                "endSequenceNumber": last["SequenceNumber"],
                "approximateArrivalOfFirstRecord": _iso(_epoch(first)),
                "approximateArrivalOfLastRecord": _iso(_epoch(last)),
                "batchSize": len(records),
                "streamArn": self.spec.stream_arn,
            },
        }
        await self._call(
            self.sqs.send_message,
            QueueUrl=self.spec.on_failure_queue_url,
            MessageBody=json.dumps(body),
        )


def _epoch(change: dict[str, Any]) -> float:
    created = change.get("ApproximateCreationDateTime")
    return created.timestamp() if hasattr(created, "timestamp") else float(created or 0)


def _iso(epoch: float) -> str:
    return (
        time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(epoch)) + f".{int(epoch * 1000) % 1000:03d}Z"
    )
