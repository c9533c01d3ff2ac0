"""Fan-out figures: one message pushed to 10, 100 and 1000 subscribers of a room.

Every push takes a simulated 20 ms (the management API's round trip). DynamoDB is moto,
in-process. For each room size the message goes through `chat.logic.conversation.messages.post_message`,
the path REST and the `message` frame share, and the script prints:

- "pushes": wall time of the push phase (`fanout.to_connections`, which `to_room` calls
  after its one subscriber Query), median of RUNS messages;
- "sequential": N x 20 ms, what pushing one after the other would take;
- "ideal": ceil(N / pool) x 20 ms, the best a pool of PUSH_POOL_SIZE threads can do;
- "ratio": pushes / ideal (target: within 1.5x);
- "DynamoDB calls/message": every call `post_message` makes (target: independent of N);
- "subscriber Query on moto": that Query's time, shown apart because it is moto's own
  processing (over 90 % of it at 1000 items), not what DynamoDB would take.

Two management clients are measured: a fake whose post_to_connection only sleeps 20 ms,
and the real one (chat.aws.ManagementApi: SigV4-signed requests) whose HTTP session's
send sleeps 20 ms (so building and signing each request, which hold the GIL, are paid as
in Lambda).

Run: .venv/bin/python bench/fanout.py
"""

from __future__ import annotations

import contextlib
import math
import os
import statistics
import sys
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

# Run as a script: the import paths pytest gets from pyproject.toml's `pythonpath`.
_ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(_ROOT), str(_ROOT / "layers" / "shared")]

from local.template import create_tables, load_template, resources_of_type  # noqa: E402

SIZES = (10, 100, 1000)
PUSH_SECONDS = 0.020
RUNS = 5


def _environment() -> dict[str, str]:
    """What the template gives the functions, with tables named by their logical ids."""
    template = load_template()
    tables = resources_of_type(template, "AWS::DynamoDB::Table")
    env = {
        name: value["Ref"]
        for name, value in template["Globals"]["Function"]["Environment"]["Variables"].items()
        if isinstance(value, dict) and value.get("Ref") in tables
    }
    return {
        **env,
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ACCESS_KEY_ID": "bench",
        "AWS_SECRET_ACCESS_KEY": "bench",
        "POWERTOOLS_SERVICE_NAME": "chat",
        "POWERTOOLS_METRICS_NAMESPACE": "CollabChat",
        "POWERTOOLS_TRACE_DISABLED": "true",
        "POWERTOOLS_LOG_LEVEL": "ERROR",
        "JWT_SECRET_ARN": "bench-jwt-key",
        "TOKEN_TTL_SECONDS": "3600",
        "DEFAULT_BOT_MODEL": "gemini-2.5-flash",
        "WEBSOCKET_MANAGEMENT_URL": "https://bench.execute-api.us-east-1.amazonaws.com/v1",
    }


os.environ.update(_environment())
os.environ.pop("AWS_ENDPOINT_URL", None)

import boto3  # noqa: E402
from botocore.awsrequest import AWSResponse  # noqa: E402
from moto import mock_aws  # noqa: E402

from chat import aws  # noqa: E402
from chat.dal import connections  # noqa: E402
from chat.dal.items import ConnectionItem  # noqa: E402
from chat.dal.tables import table  # noqa: E402
from chat.logic.conversation.messages import post_message  # noqa: E402
from chat.logic.realtime import fanout  # noqa: E402
from chat.logic.rooms import directory  # noqa: E402
from chat.models import CreateRoomRequest  # noqa: E402
from chat.observability import metrics  # noqa: E402
from chat.principal import Principal  # noqa: E402


class SleepingManagementApi:
    """A management client whose every push is a 20 ms round trip and nothing else."""

    def post_to_connection(self, ConnectionId: str, Data: bytes) -> dict[str, Any]:
        time.sleep(PUSH_SECONDS)
        return {}


class _EmptyBody:
    """The raw body of an HTTP response without content."""

    def stream(self, **_: Any) -> list[bytes]:
        return []


class _SleepingHttp:
    """An HTTP session whose every request is a 20 ms round trip answered 200."""

    def send(self, request: Any) -> AWSResponse:
        time.sleep(PUSH_SECONDS)
        return AWSResponse(request.url, 200, {}, _EmptyBody())


def real_management_api() -> Any:
    """The real client (as chat.aws builds it) whose HTTP send sleeps 20 ms."""
    aws.reset()  # forget the injected fake; the DynamoDB resource is rebuilt on next use
    client = aws.management_api()
    client.http = _SleepingHttp()
    return client


class _Writes:
    """Stands in for the connections DAL's writes while a room is set up, so that the items
    it builds can be stored with BatchWriteItem: on moto, one call per item is slow, and
    TransactWriteItems deep-copies every table it touches (O(table size) per call)."""

    def __init__(self) -> None:
        self.items: list[dict[str, Any]] = []

    def put_item(self, Item: dict[str, Any]) -> None:
        self.items.append(Item)

    def batch_writer(self) -> contextlib.nullcontext[_Writes]:
        return contextlib.nullcontext(self)

    def transact(self, items: list[dict[str, Any]], attempts: int = 3) -> None:
        self.items += [item["Put"]["Item"] for item in items if "Put" in item]


def room_with_subscribers(owner: Principal, size: int) -> str:
    """A room and `size` live connections subscribed to it, as the connections DAL writes
    them (`put_connection`, then `subscribe`)."""
    room_id = directory.create_room(owner, CreateRoomRequest(name=f"bench {size}")).room_id
    writes = _Writes()
    real = connections.table, connections.transact
    connections.table, connections.transact = (lambda name: writes), writes.transact
    try:
        for index in range(size):
            connection_id = f"bench-{size}-{index}="
            connection = ConnectionItem(
                connection_id=connection_id,
                user_id=f"user{index}",
                username=f"user{index}",
                connected_at="now",
                expires_at=connections.expires_at(0),
            )
            connections.put_connection(connection)
            assert connections.subscribe(writes.items[-1], room_id)
    finally:
        connections.table, connections.transact = real
    with table("connections").batch_writer() as batch:
        for item in writes.items:
            batch.put_item(Item=item)
    assert len(connections.room_subscribers(room_id)) == size
    return room_id


class Timed:
    """Wraps a function to record the wall time of each call."""

    def __init__(self, function: Callable[..., Any]) -> None:
        self.function = function
        self.seconds: list[float] = []

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        started = time.perf_counter()
        try:
            return self.function(*args, **kwargs)
        finally:
            self.seconds.append(time.perf_counter() - started)


@dataclass
class Figures:
    subscribers: int
    pushes: float  # seconds, median
    query: float  # seconds, median
    calls: Counter[str]  # DynamoDB operations of one message

    @property
    def sequential(self) -> float:
        return self.subscribers * PUSH_SECONDS

    @property
    def ideal(self) -> float:
        return math.ceil(self.subscribers / aws.PUSH_POOL_SIZE) * PUSH_SECONDS


def measure(owner: Principal, room_id: str, subscribers: int) -> Figures:
    """RUNS messages posted to the room: median push phase and subscriber Query; DynamoDB
    calls per message."""
    calls: Counter[str] = Counter()

    def count(model: Any, **_: Any) -> None:
        calls[model.name] += 1

    events = aws.dynamodb_resource().meta.client.meta.events
    post_message(owner, room_id, "warm-up")  # pool threads started, clients and code warm
    pushes, query = Timed(fanout.to_connections), Timed(connections.room_subscribers)
    real = fanout.to_connections, connections.room_subscribers
    fanout.to_connections, connections.room_subscribers = pushes, query
    events.register("before-call.dynamodb", count, unique_id="bench-count")
    try:
        for run in range(RUNS):
            post_message(owner, room_id, f"message {run}")
            metrics.clear_metrics()  # nothing flushes them here: keep stdout for the figures
    finally:
        events.unregister("before-call.dynamodb", unique_id="bench-count")
        fanout.to_connections, connections.room_subscribers = real
    per_message = Counter({name: n // RUNS for name, n in calls.items()})
    assert all(n % RUNS == 0 for n in calls.values()), calls
    assert len(pushes.seconds) == len(query.seconds) == RUNS
    return Figures(
        subscribers,
        statistics.median(pushes.seconds),
        statistics.median(query.seconds),
        per_message,
    )


def main() -> None:
    owner = Principal(user_id="owner", username="owner")
    started = time.perf_counter()
    with mock_aws():
        create_tables(boto3.client("dynamodb"), load_template())
        room_ids = {size: room_with_subscribers(owner, size) for size in SIZES}
        setup = time.perf_counter() - started
        results: dict[str, list[Figures]] = {}
        for label, client in (
            ("fake management client (post_to_connection sleeps 20 ms)", SleepingManagementApi()),
            ("signed-request management client (HTTP send sleeps 20 ms)", None),
        ):
            aws.inject("apigatewaymanagementapi", client or real_management_api())
            results[label] = [measure(owner, room_ids[size], size) for size in SIZES]

    print(
        f"Fan-out of one message: {PUSH_SECONDS * 1000:.0f} ms per push, pool of "
        f"{aws.PUSH_POOL_SIZE} threads, median of {RUNS} messages (setup {setup:.1f} s)."
    )
    for label, rows in results.items():
        print(f"\n{label}")
        print(
            f"{'subscribers':>11} {'pushes':>9} {'sequential':>11} {'ideal':>8} {'ratio':>6}"
            f" {'DynamoDB calls/message':>23} {'subscriber Query on moto':>25}"
        )
        for row in rows:
            print(
                f"{row.subscribers:>11} {row.pushes * 1000:>6.0f} ms"
                f" {row.sequential * 1000:>8.0f} ms {row.ideal * 1000:>5.0f} ms"
                f" {row.pushes / row.ideal:>5.2f}x {sum(row.calls.values()):>23}"
                f" {row.query * 1000:>22.0f} ms"
            )
    every = [row.calls for rows in results.values() for row in rows]
    same = all(calls == every[0] for calls in every)
    print(
        "\nDynamoDB calls per message: "
        + ", ".join(f"{n} {name}" for name, n in sorted(every[0].items()))
        + (" for every room size." if same else "; NOT the same for every room size!")
    )


if __name__ == "__main__":
    main()
