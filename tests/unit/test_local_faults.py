"""The local stack's fault plan (local.faults): `--faults` read as written, each service's
faults at the rate asked for and seeded (the same seed, the same faults on the same call
numbers, whatever thread makes the call), and the SQS event source's duplicate and late
deliveries (local.event_sources) on moto's queue."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import boto3
import pytest
from moto import mock_aws

from local.event_sources import SqsPoller
from local.faults import KINDS, FaultPlan, FaultSpecError
from local.lambda_runtime import InvokeResult
from local.model import SqsSourceSpec
from local.stack import parse_args


# ---------------------------------------------------------------------- the plan
def test_a_service_rate_is_spread_over_its_kinds_and_a_kind_rate_is_its_own() -> None:
    plan = FaultPlan.parse("dynamodb=0.05, gemini.cut=2%,gemini=0.1", seed=7)

    assert plan.rates["dynamodb"] == pytest.approx(
        {kind: 0.05 * share for kind, share in KINDS["dynamodb"].items()}
    )
    assert sum(plan.rates["dynamodb"].values()) == pytest.approx(0.05)
    assert plan.rates["gemini"]["cut"] == pytest.approx(0.02 + 0.1 * KINDS["gemini"]["cut"])
    assert set(plan.rates) == {"dynamodb", "gemini"}
    assert plan.faults("sqs") is None
    assert FaultPlan.parse(plan.spec(), seed=7) == plan  # exactly: a child process decides alike
    assert plan.describe().startswith("dynamodb 5% (throttle 3.5%, error 1%, lost 0.5%)")


@pytest.mark.parametrize(
    ("spec", "complaint"),
    [
        ("dynamo=0.1", "SERVICE one of dynamodb, management_api, sqs, gemini"),
        ("dynamodb.slow=0.1", "unknown dynamodb fault 'slow'"),
        ("dynamodb", "expected SERVICE=RATE"),
        ("sqs=often", "bad rate"),
        ("gemini=1.5", "between 0 and 1"),
        ("gemini=0.6,gemini.cut=0.5", "add up to more than every call"),
    ],
)
def test_a_specification_that_cannot_be_read_is_refused_with_what_is_wrong(
    spec: str, complaint: str
) -> None:
    with pytest.raises(FaultSpecError, match=complaint):
        FaultPlan.parse(spec, seed=1)


def test_the_command_line_refuses_a_bad_specification_and_picks_a_seed_when_none_is_given(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with pytest.raises(SystemExit):
        parse_args(["--faults", "dynamo=0.1"])
    assert "--faults: bad fault 'dynamo=0.1'" in capsys.readouterr().err

    seeded = parse_args(["--faults", "sqs=0.02", "--fault-seed", "42"]).faults
    assert seeded is not None and seeded.seed == 42 and seeded.rates["sqs"]
    assert parse_args(["--faults", "sqs=0.02"]).faults is not None
    assert parse_args([]).faults is None


def test_each_kind_comes_at_its_rate() -> None:
    faults = FaultPlan.parse("management_api=0.05", seed=3).faults("management_api")
    assert faults is not None
    calls = 40_000
    kinds = Counter(fault.kind for fault in (faults.next() for _ in range(calls)) if fault)

    assert sum(kinds.values()) / calls == pytest.approx(0.05, rel=0.1)
    for kind, share in KINDS["management_api"].items():
        assert kinds[kind] / calls == pytest.approx(0.05 * share, rel=0.25)
    assert faults.summary() == (
        f"faults: management_api {sum(kinds.values())}/{calls} calls "
        f"(throttle {kinds['throttle']}, error {kinds['error']}, gone {kinds['gone']})"
    )


def test_the_same_seed_gives_the_same_faults_on_the_same_calls_from_any_thread() -> None:
    def sequence(seed: int) -> list[Any]:
        faults = FaultPlan.parse("dynamodb=0.2", seed=seed).faults("dynamodb")
        assert faults is not None
        return [faults.next() for _ in range(2000)]

    first = sequence(5)
    assert sequence(5) == first
    assert sequence(6) != first

    # Eight threads share the service's calls: whoever makes call n, it gets call n's fate.
    faults = FaultPlan.parse("dynamodb=0.2", seed=5).faults("dynamodb")
    assert faults is not None
    with ThreadPoolExecutor(8) as pool:
        concurrent = list(pool.map(lambda _: faults.next(), range(2000)))
    assert {f for f in concurrent if f} == {f for f in first if f}


# ---------------------------------------------------------------------- SQS deliveries
QUEUE = "commands.fifo"


class Recorder:
    """Lambda's side: each invocation's records, and when it came."""

    def __init__(self) -> None:
        self.invocations: list[tuple[float, list[dict[str, Any]]]] = []

    async def invoke(self, function: str, event: Any, **_: Any) -> InvokeResult:
        self.invocations.append((time.monotonic(), event["Records"]))
        return InvokeResult(ok=True, payload=None)


async def _deliver(spec: str, bodies: list[str]) -> tuple[Recorder, Any, float]:
    sqs = boto3.client("sqs", region_name="us-east-1")
    url = sqs.create_queue(
        QueueName=QUEUE, Attributes={"FifoQueue": "true", "ContentBasedDeduplication": "true"}
    )["QueueUrl"]
    for body in bodies:
        sqs.send_message(QueueUrl=url, MessageBody=body, MessageGroupId=body)
    source = SqsSourceSpec(
        function="Worker",
        queue_logical_id="Commands",
        queue_url=url,
        queue_arn=f"arn:aws:sqs:us-east-1:123456789012:{QUEUE}",
        fifo=True,
        batch_size=1,
        batching_window=0,
        report_batch_item_failures=True,
        maximum_concurrency=None,
    )
    recorder = Recorder()
    poller = SqsPoller(
        source,
        sqs,
        recorder.invoke,
        region="us-east-1",
        max_concurrency=4,
        faults=FaultPlan.parse(spec, seed=1).faults("sqs"),
    )
    started = time.monotonic()
    poller.start()
    deadline = started + 60
    while time.monotonic() < deadline:
        left = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
        if (
            left["ApproximateNumberOfMessages"]
            == left["ApproximateNumberOfMessagesNotVisible"]
            == "0"
        ):
            break
        await asyncio.sleep(0.05)
    await poller.stop()
    return recorder, poller, started


@mock_aws
def test_a_duplicate_delivery_invokes_the_function_again_with_the_same_records() -> None:
    recorder, poller, _ = asyncio.run(_deliver("sqs.duplicate=1", ["a", "b", "c"]))

    by_body: dict[str, list[dict[str, Any]]] = {}
    for _, records in recorder.invocations:
        for record in records:
            by_body.setdefault(record["body"], []).append(record)
    assert sorted(by_body) == ["a", "b", "c"]
    for deliveries in by_body.values():
        first, again = deliveries  # each record twice, then deleted: no third delivery
        assert again["messageId"] == first["messageId"]
        assert again["attributes"]["MessageGroupId"] == first["attributes"]["MessageGroupId"]
        assert int(again["attributes"]["ApproximateReceiveCount"]) == (
            int(first["attributes"]["ApproximateReceiveCount"]) + 1
        )
    assert poller.faults.injected == Counter(duplicate=3)


@mock_aws
def test_a_late_delivery_reaches_the_function_no_sooner_than_half_a_second_later() -> None:
    recorder, poller, started = asyncio.run(_deliver("sqs.delay=1", ["a"]))

    [(invoked_at, records)] = recorder.invocations
    assert [record["body"] for record in records] == ["a"]
    assert invoked_at - started >= 0.5
    assert poller.faults.injected == Counter(delay=1)
