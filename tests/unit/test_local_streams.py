"""The local stack's DynamoDB Stream event source (local.event_sources.StreamPoller) on moto:
records in order, in batches, retried from the first reported failure, a failing invocation
split in halves, and after the retries the on-failure queue gets Lambda's record of the
batch while the shard moves on."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import boto3
import pytest
from moto import mock_aws

from local import event_sources
from local.event_sources import StreamPoller
from local.lambda_runtime import InvokeResult
from local.model import StreamSourceSpec


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr(event_sources, "STREAM_POLL_SECONDS", 0.01)
    monkeypatch.setattr(event_sources, "RETRY_PAUSE_SECONDS", 0.01)
    with mock_aws():
        dynamodb = boto3.client("dynamodb", region_name="us-east-1")
        dynamodb.create_table(
            TableName="things",
            KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
            StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"},
        )
        sqs = boto3.client("sqs", region_name="us-east-1")
        queue = sqs.create_queue(QueueName="failures")["QueueUrl"]
        yield dynamodb, sqs, queue


def _spec(dynamodb: Any, queue: str, **changes: Any) -> StreamSourceSpec:
    arn = dynamodb.describe_table(TableName="things")["Table"]["LatestStreamArn"]
    spec = StreamSourceSpec(
        function="Fn",
        function_arn="arn:aws:lambda:us-east-1:123456789012:function:Fn",
        table_logical_id="things",
        stream_arn=arn,
        starting_position="TRIM_HORIZON",
        batch_size=3,
        batching_window=0,
        report_batch_item_failures=True,
        bisect_on_error=False,
        maximum_retry_attempts=2,
        on_failure_queue_url=queue,
    )
    for name, value in changes.items():
        setattr(spec, name, value)
    return spec


Answer = Callable[[list[dict[str, Any]]], InvokeResult]


def _keys(records: list[dict[str, Any]]) -> list[str]:
    return [record["dynamodb"]["Keys"]["pk"]["S"] for record in records]


def _run(spec: StreamSourceSpec, aws: Any, answer: Answer, until) -> list[list[str]]:
    """Run a poller until `until(batches)` holds; the batches it invoked, as lists of keys."""
    _, sqs, _ = aws
    batches: list[list[str]] = []

    async def invoke(function: str, event: dict[str, Any]) -> InvokeResult:
        assert function == "Fn"
        assert all(r["eventSourceARN"] == spec.stream_arn for r in event["Records"])
        batches.append(_keys(event["Records"]))
        return answer(event["Records"])

    async def main() -> None:
        poller = StreamPoller(
            spec,
            boto3.client("dynamodbstreams", region_name="us-east-1"),
            sqs,
            invoke,
            region="us-east-1",
        )
        poller.start()
        try:
            for _ in range(500):
                if until(batches):
                    return
                await asyncio.sleep(0.01)
            raise AssertionError(f"never done: {batches}")
        finally:
            await poller.stop()

    # A thread of its own: a test run may hold an event loop running in this one (the browser
    # tests' Playwright does, in the same worker).
    with ThreadPoolExecutor(max_workers=1) as pool:
        pool.submit(asyncio.run, main()).result()
    return batches


def _put(dynamodb: Any, *keys: str) -> None:
    for key in keys:
        dynamodb.put_item(TableName="things", Item={"pk": {"S": key}})


def test_records_arrive_in_order_in_batches_of_batch_size(aws):
    dynamodb, _, queue = aws
    _put(dynamodb, "a", "b", "c", "d", "e")
    batches = _run(
        _spec(dynamodb, queue),
        aws,
        lambda records: InvokeResult(ok=True, payload={"batchItemFailures": []}),
        lambda batches: sum(map(len, batches)) >= 5,
    )
    assert batches == [["a", "b", "c"], ["d", "e"]]


def test_a_reported_failure_is_retried_from_there_with_the_records_after_it(aws):
    dynamodb, _, queue = aws
    _put(dynamodb, "a", "b", "c")
    failed: list[str] = []

    def answer(records: list[dict[str, Any]]) -> InvokeResult:
        if failed:
            return InvokeResult(ok=True, payload={})
        (b,) = [r["dynamodb"]["SequenceNumber"] for r in records if _keys([r]) == ["b"]]
        failed.append(b)  # "b" fails the first time
        return InvokeResult(ok=True, payload={"batchItemFailures": [{"itemIdentifier": b}]})

    batches = _run(_spec(dynamodb, queue), aws, answer, lambda b: len(b) >= 2)
    assert batches == [["a", "b", "c"], ["b", "c"]]


def test_a_failing_batch_is_split_and_after_its_retries_recorded_on_the_queue(aws):
    dynamodb, sqs, queue = aws
    _put(dynamodb, "a", "bad", "c", "d")

    def fails(records: list[dict[str, Any]]) -> InvokeResult:
        if "bad" in _keys(records):
            return InvokeResult(ok=False, error={"errorType": "Boom"})
        return InvokeResult(ok=True)

    spec = _spec(dynamodb, queue, bisect_on_error=True, batch_size=4)
    batches = _run(spec, aws, fails, lambda batches: ["c", "d"] in batches)
    # halves, then the failing half's halves; "bad" alone is tried 1 + 2 retries times
    assert batches[:3] == [["a", "bad", "c", "d"], ["a", "bad"], ["a"]]
    assert batches.count(["bad"]) == 3 and batches[-1] == ["c", "d"]
    (message,) = sqs.receive_message(QueueUrl=queue)["Messages"]
    record = json.loads(message["Body"])
    info = record["DDBStreamBatchInfo"]
    assert info["batchSize"] == 1 and info["streamArn"] == spec.stream_arn
    assert info["startSequenceNumber"] == info["endSequenceNumber"]
    assert record["requestContext"]["condition"] == "RetryAttemptsExhausted"
    assert record["requestContext"]["functionArn"] == spec.function_arn
