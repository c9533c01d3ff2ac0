"""SQS event source mappings: Lambda's poller, locally.

Like Lambda's: long-polls the queue, invokes the function with batches of up to BatchSize
records in the SQS event shape, deletes the records of a successful batch, and with
`ReportBatchItemFailures` deletes all but the reported ones. Failed records are left alone:
they come back after the queue's VisibilityTimeout, and SQS moves them to the redrive
policy's dead-letter queue after maxReceiveCount receives (moto does this on receive).

FIFO queues: a batch holds one message group only, in order; SQS itself does not hand
out a group's next messages while earlier ones are in flight, so each group has at most
one batch in flight while different groups run in parallel.

With `faults` (local.faults), a share of the batches is delivered twice (the function is
invoked again with the records it just processed, before they are deleted, as Lambda's
at-least-once delivery may) or late (0.5-5 s).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from local.events import sqs_event
from local.faults import Fault, Faults
from local.lambda_runtime import InvokeResult
from local.model import SqsSourceSpec

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
