"""Big rooms: a message to 100, 1,000 and 10,000 subscribers through the real sharded fan-out,
and a 300-token bot answer in a room of 10,000 against the account's send budget.

What runs for real, in this process on moto (tables, the FIFO fan-out queue, KMS, SSM from
template.yaml): the message path (`post_message`, which the REST route and the WebSocket
`message` frame call), every shard through the FanoutFunction handler, and the bot worker's
handler answering a command with the fake Gemini (the real google-genai SDK). Every push is a
signed request (chat.aws.ManagementApi) over real HTTP to a management API in a child process
(`--serve`) that answers after LATENCY_MS and throttles above the budget (a token bucket of
BUDGET/s, burst BUDGET/2, as API Gateway's account throttle: 429 LimitExceededException).

What is modelled is Lambda's concurrency: two shared cores cannot run 64 invocations at once.
Each invocation (the sender's, each shard's) runs alone here and the delivery time of each of
its pushes (the management API's answer) is recorded from the invocation's start; a timeline
then places them as Lambda would run them:

- the sender's subscriber Query: one page of the room's first FanoutShardThreshold + 1
  subscriptions (DYNAMO_MS, and its parse: PARSE_S a subscriber, measured at start), and in
  a room that has more, a second Query when that page stopped short of the sender's own
  bucket; its store (DYNAMO_MS, at the same time) before it pushes (moto's own time left
  out: the CPU moto spends answering is not counted as the function's);
- SQS_MS per SendMessageBatch, one after the other: a shard is queued once its call is
  done and reaches an invocation DISPATCH_MS later;
- at most CONCURRENCY (FanoutMaxConcurrency) shards at once, one bucket's shards one after
  the other (its FIFO group); an invocation adds INVOKE_MS, claims its shard (DYNAMO_MS),
  reads its range of slots (DYNAMO_MS and the parse of what it read, at one vCPU), then
  waits for its `not_before` (a big frame's buckets are spread within the send budget:
  chat.logic.realtime.broadcast), holding its place in the concurrency, then pushes and
  marks the shard done (DYNAMO_MS); here a shard is handed to the handler once its time
  has come, so that its run is its pushes, not its wait; warm functions (no cold start);
- one vCPU per invocation: the fan-out function has 1,769 MB (one vCPU, about a core here).
  The sender, WsMessageFunction at 512 MB, has 0.29: its CPU-bound time stretches ("512 MB"
  columns: an invocation's times scaled by max(1, CPU / 0.29 / wall)); the headline is the
  sender at 512 MB;
- the account throttle over the modelled sends: a push over the bucket comes again after
  RETRY_S (its shard's record retried).

Figures:
- per room size: time until the last subscriber has the message, p50 / p95 over the
  messages, the sender at one vCPU and at 512 MB; invocations per message; every
  subscriber got the message exactly once;
- where sharding pays: the same at 100-1,000 subscribers, all pushed by the sender (the
  direct path) against the sharded path, with the sender at one vCPU and at 512 MB;
- the bot answer: frames per subscriber, the spacing of its frames, the peak sends in any
  second of the modelled timeline against the budget.

The last line is `big_room subscribers=10000 p95_ms=<n> budget_held=<yes|no>`: p95 with the
sender at 512 MB.

Run: PYTHONPATH=.:layers/shared .venv/bin/python bench/big_room.py [--messages 20] [--quick]
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import heapq
import itertools
import json
import math
import os
import statistics
import sys
import time
import urllib.request
import warnings
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager, redirect_stdout
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

_ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(_ROOT), str(_ROOT / "layers" / "shared")]

LATENCY_MS = 20.0  # a push's round trip
BUDGET = 10_000  # the account's API Gateway requests per second (the default quota)
DYNAMO_MS = 10.0  # a DynamoDB round trip (a 1 MB page of a Query included)
SQS_MS = 15.0  # a SendMessageBatch call
DISPATCH_MS = 30.0  # from a shard queued to an invocation holding it (SQS long poll, invoke)
INVOKE_MS = 5.0  # an invocation's own overhead
RETRY_S = 2.0  # a throttled push's shard comes back after this
CONCURRENCY = 50  # FanoutMaxConcurrency's default
SENDER_VCPU = 512 / 1769  # WsMessageFunction's share of a vCPU
# A subscription item as DynamoDB reads it (its 1 MB pages count items before projection).
SUBSCRIBER_BYTES = 230
PARSE_S = 20e-6  # CPU to parse one subscriber of a Query (measured at start: run())
POOL = 32  # chat.aws.PUSH_POOL_SIZE: pushes at once in an invocation
# CPU and round trips overlap only in part (a push's signing holds the GIL while others wait):
# an invocation alone takes this much longer than the larger of the two.
OVERLAP = 1.3
SIZES = (100, 1_000, 10_000)
THRESHOLD_SIZES = (100, 250, 500, 1_000)


# ---------------------------------------------------------------------- the management API
def serve(latency: float, rate: float) -> None:
    """The management API (child process): POST /@connections/{id} answered after `latency`
    seconds, 429 over the token bucket; GET /_records hands over (and forgets) the pushes
    answered 200: when, to whom, the frame's type."""
    from aiohttp import web

    records: list[list[Any]] = []
    bucket = {"tokens": rate / 2, "at": time.monotonic()}

    def allowed() -> bool:
        now = time.monotonic()
        bucket["tokens"] = min(rate / 2, bucket["tokens"] + (now - bucket["at"]) * rate)
        bucket["at"] = now
        if bucket["tokens"] < 1:
            return False
        bucket["tokens"] -= 1
        return True

    async def push(request: web.Request) -> web.Response:
        arrived = time.time()
        body = await request.read()
        kind = body[9 : body.find(b'"', 9)].decode() if body.startswith(b'{"type":"') else "?"
        if not allowed():
            headers = {"x-amzn-ErrorType": "LimitExceededException"}
            return web.json_response({"message": "Limit Exceeded"}, status=429, headers=headers)
        await asyncio.sleep(latency)
        records.append([arrived + latency, request.match_info["connection_id"], kind])
        return web.Response(status=200)

    async def take(request: web.Request) -> web.Response:
        taken = list(records)
        records.clear()
        return web.json_response(taken)

    async def main() -> None:
        app = web.Application()
        app.router.add_post("/@connections/{connection_id}", push)
        app.router.add_get("/_records", take)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0, backlog=1024)
        await site.start()
        print(site._server.sockets[0].getsockname()[1], flush=True)  # type: ignore[union-attr]
        await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)
        await runner.cleanup()

    asyncio.run(main())


def records(port: int) -> list[tuple[float, str, str]]:
    """The pushes delivered since the last call: (delivered at, connection id, frame type)."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/_records") as response:
        return [(at, cid, kind) for at, cid, kind in json.loads(response.read())]


# ---------------------------------------------------------------------- what was measured
@dataclass
class Invocation:
    """One push phase as it ran here: when each push was delivered, from its start."""

    offsets: list[float]
    wall: float
    cpu: float
    connections: list[str] = field(default_factory=list)

    def scaled(self, vcpu: float) -> tuple[list[float], float]:
        """Offsets and duration on `vcpu` of a vCPU of its own. Here the invocation shared two
        cores with everything else running: its wall time is squeezed back to what its own
        CPU time and its pushes' round trips (PUSH_POOL_SIZE at a time) need, then stretched
        where `vcpu` is less than a core."""
        if self.wall <= 0:
            return list(self.offsets), self.wall
        rounds = math.ceil(len(self.offsets) / POOL) * LATENCY_MS / 1000
        alone = min(self.wall, max(self.cpu, rounds) * OVERLAP)
        wall = max(alone, self.cpu / vcpu)
        return [o * wall / self.wall for o in self.offsets], wall


@dataclass
class Shard:
    """One queued shard of a broadcast as the fan-out function ran it."""

    group: str  # its FIFO group
    run: Invocation
    delay: float  # seconds after the broadcast began before which it may not push (spread)
    call: int = 0  # the sender's SendMessageBatch call that queued it (0, 1 …)
    reads: int = 0  # subscribers its invocation read (a range of slots; 0: a list)


@dataclass
class Broadcast:
    """One frame to a room: the sender's part, and each shard."""

    started: float  # wall clock: the sender's broadcast began (its pushes, its queueing)
    sender: Invocation
    batches: int  # SendMessageBatch calls
    shards: list[Shard] = field(default_factory=list)
    more: int = 0  # subscribers the sender read beyond its first page (the rest of its bucket)


# ---------------------------------------------------------------------- the model
def query_ms(subscribers: int) -> float:
    """A room's subscriber Query on DynamoDB: its 1 MB pages, one after the other."""
    pages = max(1, math.ceil(subscribers * SUBSCRIBER_BYTES / 1_000_000))
    return pages * DYNAMO_MS


def before_pushes(subscribers: int, vcpu: float, *, page: int | None, more: int = 0) -> float:
    """Seconds from the sender's start to its first push: its subscriber Query (the room's
    first ``page`` subscribers, or all of them: None) and the parsing of what it read, then
    ``more`` (a second Query, for the rest of its bucket: its items); the message's store
    runs meanwhile, one round trip."""
    read = subscribers if page is None else min(subscribers, page)
    seconds = query_ms(read) / 1000 + read * PARSE_S / vcpu
    if more:
        seconds += DYNAMO_MS / 1000 + more * PARSE_S / vcpu
    return max(seconds, DYNAMO_MS / 1000)


def parse_seconds_per_item() -> float:
    """CPU to parse one subscriber of a Query's answer as the function does: botocore's JSON
    parser over DynamoDB's model, then boto3's deserializer (median of five 2,000-item
    pages, the projected attributes of chat.dal.connections)."""
    import botocore.session
    from boto3.dynamodb.types import TypeDeserializer
    from botocore.parsers import create_parser

    shape = botocore.session.get_session().get_service_model("dynamodb")
    shape = shape.operation_model("Query").output_shape
    parser, deserialize = create_parser("json"), TypeDeserializer().deserialize
    items = [
        {
            "connection_id": {"S": f"AbCdEfGhIjK{i:05d}="},
            "user_id": {"S": f"01J{i:023d}"},
            "username": {"S": f"user{i}"},
            "expires_at": {"N": "1796224809"},
            "token_expires_at": {"N": "1796224809"},
        }
        for i in range(2000)
    ]
    body = json.dumps({"Items": items, "Count": 2000, "ScannedCount": 2000}).encode()
    runs = []
    for _ in range(5):
        cpu = time.process_time()
        parsed = parser.parse({"status_code": 200, "headers": {}, "body": body}, shape)
        [{k: deserialize(v) for k, v in item.items()} for item in parsed["Items"]]
        runs.append((time.process_time() - cpu) / 2000)
    return statistics.median(runs)


def deliveries(
    broadcast: Broadcast,
    at: float,
    *,
    sender_vcpu: float = 1.0,
    slots: list[float] | None = None,
    groups: dict[str, float] | None = None,
) -> list[float]:
    """Delivery times (s) of one broadcast whose sender starts pushing at `at`. `slots` (the
    free times of the CONCURRENCY invocations) and `groups` (when each FIFO group's last
    shard ends) carry over from one broadcast to the next."""
    slots = slots if slots is not None else [0.0] * CONCURRENCY
    groups = groups if groups is not None else {}
    offsets, _ = broadcast.sender.scaled(sender_vcpu)
    times = [at + o for o in offsets]
    for shard in broadcast.shards:
        free = heapq.heappop(slots)
        queued = at + ((shard.call + 1) * SQS_MS + DISPATCH_MS) / 1000
        start = max(queued, free, groups.get(shard.group, 0.0))
        # its claim, then its range's Query (a round trip each), the range parsed; then it
        # waits for its turn in the spread
        ready = start + (INVOKE_MS + DYNAMO_MS * (2 if shard.reads else 1)) / 1000
        ready += shard.reads * PARSE_S
        pushing = max(ready, at + shard.delay)
        offsets, wall = shard.run.scaled(1.0)  # one vCPU: 1,769 MB
        times += [pushing + o for o in offsets]
        end = pushing + wall + DYNAMO_MS / 1000
        groups[shard.group] = end
        heapq.heappush(slots, end)
    return times


def throttle(times: list[float], rate: float = BUDGET) -> tuple[list[float], int]:
    """The delivery times under the account's token bucket (rate/s, burst rate/2): a push
    over it comes again RETRY_S later. Returns them and how many were throttled."""
    tokens, last, throttled, result = rate / 2, 0.0, 0, []
    pending = sorted(times)
    heapq.heapify(pending)
    while pending:
        t = heapq.heappop(pending)
        tokens = min(rate / 2, tokens + (t - last) * rate)
        last = t
        if tokens >= 1:
            tokens -= 1
            result.append(t)
        else:
            throttled += 1
            heapq.heappush(pending, t + RETRY_S)
    return result, throttled


def peak_per_second(times: list[float]) -> int:
    ordered, peak, start = sorted(times), 0, 0
    for end, t in enumerate(ordered):
        while ordered[start] <= t - 1.0:
            start += 1
        peak = max(peak, end - start + 1)
    return peak


# ---------------------------------------------------------------------- the stack
def environment(port: int) -> None:
    import tests.conftest  # noqa: F401  - the functions' environment, as in the tests

    os.environ.update(
        {
            "WEBSOCKET_MANAGEMENT_URL": f"http://127.0.0.1:{port}",
            "POWERTOOLS_LOG_LEVEL": "ERROR",
            "POWERTOOLS_METRICS_NAMESPACE": "CollabChat",
        }
    )


def subscribe_many(room_id: str, count: int) -> list[str]:
    """`count` live connections subscribed to a room, written as the connections DAL writes
    them (in batches: on moto one call per item is slow)."""
    from chat.dal import connections
    from chat.dal.tables import table

    items: list[dict[str, Any]] = []
    expires = int(time.time()) + 3600
    ids = [f"{room_id[-6:]}-{i:05d}=" for i in range(count)]
    for index, connection_id in enumerate(ids):
        subscriber = {
            "connection_id": connection_id,
            "user_id": f"user{index}",
            "username": f"user{index}",
            "expires_at": expires,
        }
        items += connections._subscription(subscriber, room_id)  # type: ignore[arg-type]
    with table("connections").batch_writer() as batch:
        for item in items:
            batch.put_item(Item=item)
    return ids


RANGE_READS: list[int] = []  # the subscribers of each range of slots read, as read
MOTO_CPU = [0.0]  # CPU seconds moto spent answering calls (AWS's time, not the function's)


def count_moto_cpu() -> None:
    """Count the CPU moto spends in this process answering AWS calls (each call's thread
    time), so that an invocation's CPU is its own: on Lambda that work is DynamoDB's and
    SQS's, whose time the model adds as round trips."""
    import threading

    from moto.core.botocore_stubber import BotocoreStubber

    real, lock = BotocoreStubber.process_request, threading.Lock()

    def timed(self: Any, request: Any) -> Any:
        started = time.thread_time()
        try:
            return real(self, request)
        finally:
            with lock:
                MOTO_CPU[0] += time.thread_time() - started

    BotocoreStubber.process_request = timed  # type: ignore[method-assign]


@contextmanager
def cached_subscribers() -> Iterator[None]:
    """A room's subscriber reads (the whole room, its first page, a range of its slots)
    answered from memory after the first (the model adds a DynamoDB Query's time instead of
    moto's)."""
    from chat.dal import connections

    reads = ("room_subscribers", "first_subscribers", "subscribers_in_slots")
    real = {name: getattr(connections, name) for name in reads}
    cache: dict[Any, Any] = {}

    def cached(name: str) -> Any:
        def read(*args: Any, **kwargs: Any) -> Any:
            key = (name, args, json.dumps(kwargs, sort_keys=True, default=str))
            found = cache[key] if key in cache else real[name](*args, **kwargs)
            if name == "subscribers_in_slots":
                RANGE_READS.append(len(found))
            if found.subscribers if name == "first_subscribers" else found:
                cache[key] = found  # (a room being set up is read again)
            return found

        return read

    for name in reads:
        setattr(connections, name, cached(name))
    try:
        yield
    finally:
        for name in reads:
            setattr(connections, name, real[name])


class Recorder:
    """Watches broadcast.send and broadcast.send_to_slots (when each frame's broadcast
    starts) and the fan-out queue (SendMessageBatch calls, which broadcast each shard belongs
    to, and in which of its calls it went)."""

    def __init__(self) -> None:
        from chat.adapters import fanout_queue
        from chat.logic.realtime import broadcast

        self.starts: list[float] = []
        self.batches: Counter[int] = Counter()  # broadcast index -> calls
        self.shard_of: dict[str, int] = {}  # shard id -> broadcast index
        self.batch_of: dict[str, int] = {}  # shard id -> its SendMessageBatch call (0, 1 …)
        real_send, real_slots, real_queue = (
            broadcast.send,
            broadcast.send_to_slots,
            fanout_queue.send,
        )

        def watched(real: Any) -> Any:
            def send(*args: Any, **kwargs: Any) -> Any:
                self.starts.append(time.time())
                return real(*args, **kwargs)

            return send

        def queue(shards: Any) -> Any:
            index = len(self.starts) - 1
            calls = list(fanout_queue.batches([s.body() for s in shards]))
            self.batches[index] += len(calls)
            for call, members in enumerate(calls):
                for member in members:
                    self.shard_of[shards[member].shard_id] = index
                    self.batch_of[shards[member].shard_id] = call
            return real_queue(shards)

        broadcast.send = watched(real_send)  # type: ignore[assignment]
        broadcast.send_to_slots = watched(real_slots)  # type: ignore[assignment]
        fanout_queue.send = queue  # type: ignore[assignment]


class Shards:
    """The fan-out queue's event source, one invocation at a time: the first waiting shard
    of each FIFO group, handed to the real FanoutFunction handler, until none is left."""

    def __init__(self, port: int) -> None:
        import boto3

        from tests.support.clients import handler_of

        self.port = port
        self.sqs = boto3.client("sqs")
        self.url = os.environ["FANOUT_QUEUE_URL"]
        self.arn = self.sqs.get_queue_attributes(QueueUrl=self.url, AttributeNames=["QueueArn"])[
            "Attributes"
        ]["QueueArn"]
        self.handler = handler_of("FanoutFunction")

    def drain(self) -> list[tuple[str, str, Invocation, float | None, int]]:
        """Every shard pushed: (shard id, group, its run, its not_before, the subscribers
        it read: a range of slots's)."""
        done = []
        while batch := self._receive():
            for message in batch:
                done.append(self._invoke(message))
        return done

    def _receive(self) -> list[dict[str, Any]]:
        first: dict[str, dict[str, Any]] = {}
        while received := self.sqs.receive_message(
            QueueUrl=self.url, MaxNumberOfMessages=10, AttributeNames=["All"]
        ).get("Messages", []):
            for message in received:
                group = message["Attributes"]["MessageGroupId"]
                if group in first:  # after the one before it is done
                    self.sqs.change_message_visibility(
                        QueueUrl=self.url,
                        ReceiptHandle=message["ReceiptHandle"],
                        VisibilityTimeout=0,
                    )
                else:
                    first[group] = message
        return list(first.values())

    def _invoke(self, message: dict[str, Any]) -> tuple[str, str, Invocation, float | None, int]:
        from tests.support.events import LambdaContext, sqs_event

        body = json.loads(message["Body"])
        if body.get("not_before"):  # its part of a spread frame: the model places it so
            time.sleep(max(0.0, body["not_before"] - time.time()))
        records(self.port)  # nothing of an earlier phase
        RANGE_READS.clear()
        gc.freeze()  # as in one_message: this process's heap is not the function's
        started, cpu, moto = time.time(), time.process_time(), MOTO_CPU[0]
        result = self.handler(
            sqs_event([message], self.arn), LambdaContext("FanoutFunction", 30_000)
        )
        wall = time.time() - started
        cpu = time.process_time() - cpu - (MOTO_CPU[0] - moto)
        assert result["batchItemFailures"] == [], result
        self.sqs.delete_message(QueueUrl=self.url, ReceiptHandle=message["ReceiptHandle"])
        pushed = records(self.port)
        run = Invocation([at - started for at, *_ in pushed], wall, cpu, [c for _, c, _ in pushed])
        group = message["Attributes"]["MessageGroupId"]
        return body["shard_id"], group, run, body.get("not_before"), sum(RANGE_READS)


# ---------------------------------------------------------------------- messages
@dataclass
class Sized:
    subscribers: int
    last_ms: list[float] = field(default_factory=list)  # per message, sharded, 1 vCPU sender
    last_512_ms: list[float] = field(default_factory=list)  # the sender at 512 MB
    invocations: list[int] = field(default_factory=list)
    reads: list[int] = field(default_factory=list)  # the largest range a shard read, per message
    throttled: int = 0  # at either sender size
    exactly_once: bool = True


def one_message(port: int, shards: Shards, recorder: Recorder, room_id: str, n: int) -> Broadcast:
    from chat.logic.conversation.messages import post_message
    from chat.principal import Principal

    records(port)
    RANGE_READS.clear()
    # A full collection of this process's heap (moto's tables of every room) took up to
    # 0.4 s of an invocation's CPU now and then; a function's own heap is small: what
    # exists before an invocation is left out of the collector's work.
    gc.freeze()
    first = len(recorder.starts)
    cpu, moto = time.process_time(), MOTO_CPU[0]
    post_message(Principal("owner", "owner"), room_id, f"hello {time.time()}")
    cpu = time.process_time() - cpu - (MOTO_CPU[0] - moto)
    started = recorder.starts[first]
    wall = time.time() - started
    more = sum(RANGE_READS)  # the sender read the rest of its bucket
    pushed = records(port)
    sender = Invocation([at - started for at, *_ in pushed], wall, cpu, [c for _, c, _ in pushed])
    broadcast = Broadcast(started, sender, recorder.batches[first], more=more)
    for shard_id, group, run, not_before, reads in shards.drain():
        assert recorder.shard_of[shard_id] == first
        delay = (not_before - started) if not_before else 0.0
        broadcast.shards.append(Shard(group, run, delay, recorder.batch_of[shard_id], reads))
    return broadcast


def explain(broadcast: Broadcast, at: float, last: float) -> None:
    """(BENCH_DEBUG) What one message's last delivery came from."""
    sender_offsets, sender_wall = broadcast.sender.scaled(1.0)
    print(
        f"last {last * 1000:.0f} ms: sender at {at * 1000:.0f} + {sender_wall * 1000:.0f} ms"
        f" (wall {broadcast.sender.wall * 1000:.0f}, cpu {broadcast.sender.cpu * 1000:.0f},"
        f" pushes {len(sender_offsets)})",
        file=sys.stderr,
    )
    ends = sorted(broadcast.shards, key=lambda s: s.delay + s.run.scaled(1.0)[1], reverse=True)[:3]
    for shard in ends:
        _, wall = shard.run.scaled(1.0)
        print(
            f"  shard {shard.group}: delay {shard.delay * 1000:.0f}, call {shard.call},"
            f" scaled {wall * 1000:.0f} (wall {shard.run.wall * 1000:.0f},"
            f" cpu {shard.run.cpu * 1000:.0f}), pushes {len(shard.run.offsets)}",
            file=sys.stderr,
        )


def page_limit() -> int:
    """The subscribers a sender reads first (broadcast.first_page)."""
    from chat.adapters import big_rooms_settings

    return big_rooms_settings.current().fanout_shard_threshold + 1


def measure_size(
    port: int, shards: Shards, recorder: Recorder, room_id: str, n: int, messages: int
) -> Sized:
    sized = Sized(n)
    page = page_limit()
    for _ in range(messages):
        broadcast = one_message(port, shards, recorder, room_id, n)
        got = Counter(broadcast.sender.connections)
        for shard in broadcast.shards:
            got.update(shard.run.connections)
        sized.exactly_once &= len(got) == n and set(got.values()) == {1}
        for vcpu, into in ((1.0, sized.last_ms), (SENDER_VCPU, sized.last_512_ms)):
            at = before_pushes(n, vcpu, page=page, more=broadcast.more)
            times, throttled = throttle(deliveries(broadcast, at, sender_vcpu=vcpu))
            if os.environ.get("BENCH_DEBUG") and vcpu == 1.0:
                explain(broadcast, at, max(times))
            into.append(max(times) * 1000)
            sized.throttled += throttled
        sized.invocations.append(1 + len(broadcast.shards))
        sized.reads.append(max((shard.reads for shard in broadcast.shards), default=0))
    return sized


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, math.ceil(q * len(ordered)) - 1)]


# ---------------------------------------------------------------------- the bot
@dataclass
class BotRun:
    subscribers: int
    frames: Counter[str]  # per subscriber, by type
    spacing_ms: list[float]  # between the worker's frames
    peak: int  # sends in the busiest second of the modelled timeline
    throttled: int
    answer_s: float
    modelled_spacing: float = 0.0  # seconds between frames on Lambda
    worker_s: float = 0.0  # the worker's own time per frame at 512 MB


def bot_answer(port: int, shards: Shards, recorder: Recorder, n: int, tokens: int) -> BotRun:
    import boto3

    from chat.logic.rooms import directory
    from chat.models import CreateRoomRequest
    from chat.principal import Principal
    from local.fake_gemini import Reply
    from tests.support.clients import handler_of
    from tests.support.events import LambdaContext, sqs_event

    owner = Principal("owner", "owner")
    room = directory.create_room(
        owner, CreateRoomRequest(name="stadium", gemini_api_key="AIzaBENCH-big-room-key")
    )
    subscribe_many(room.room_id, n)
    from chat.logic.conversation.messages import post_message

    FAKE.script(Reply(tokens=tokens, seconds=tokens / 50, words_per_event=1))
    post_message(owner, room.room_id, "@bot tell the stadium")
    shards.drain()  # the command's own message row
    records(port)
    first = len(recorder.starts)
    sqs, url = boto3.client("sqs"), os.environ["BOT_QUEUE_URL"]
    command = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=1, AttributeNames=["All"])
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]
    started = time.time()
    handler_of("BotWorkerFunction")(
        sqs_event(command["Messages"], arn["QueueArn"]), LambdaContext("BotWorkerFunction", 120_000)
    )
    answer_s = time.time() - started
    worker_pushes = records(port)
    runs = shards.drain()
    return _bot_figures(n, recorder, first, worker_pushes, runs, answer_s)


def _bot_figures(
    n: int,
    recorder: Recorder,
    first: int,
    worker_pushes: list[tuple[float, str, str]],
    runs: list[tuple[str, str, Invocation, float | None, int]],
    answer_s: float,
) -> BotRun:
    """The answer's frames placed as on Lambda: one after the other, the pacer's spacing
    apart, or the worker's own time per frame if longer (its subscriber Query and its pushes
    to bucket 0 at 512 MB); each frame's shards as the event source runs them, spread as the
    frame asked (not_before); the worker's pushes as its shard-sized run here."""
    from chat.logic.bot.pacing import frame_spacing

    starts = recorder.starts[first:]
    per_push = statistics.median(run.cpu / max(1, len(run.offsets)) for _, _, run, _, _ in runs)
    inline: dict[int, list[float]] = {}
    for at, *_ in worker_pushes:
        frame = max(i for i, start in enumerate(starts) if start <= at)
        inline.setdefault(frame, []).append(at - starts[frame])
    own = [
        Invocation(offsets, max(max(offsets), 1e-3), per_push * len(offsets))
        for offsets in (inline.get(i, [0.0]) for i in range(len(starts)))
    ]
    worker_s = before_pushes(n, SENDER_VCPU, page=page_limit())
    worker_s += max(run.scaled(SENDER_VCPU)[1] for run in own)
    spacing = max(frame_spacing(n, BUDGET / 5, 0.1, BUDGET), worker_s)
    times: list[float] = []
    slots, groups = [0.0] * CONCURRENCY, {}
    for index, start in enumerate(starts):
        broadcast = Broadcast(start, own[index], recorder.batches[first + index])
        broadcast.shards = [
            Shard(
                group,
                run,
                (not_before - start) if not_before else 0.0,
                recorder.batch_of[shard_id],
                reads,
            )
            for shard_id, group, run, not_before, reads in runs
            if recorder.shard_of[shard_id] == first + index
        ]
        at = index * spacing + before_pushes(n, SENDER_VCPU, page=page_limit())
        times += deliveries(broadcast, at, sender_vcpu=SENDER_VCPU, slots=slots, groups=groups)
    one = worker_pushes[0][1]
    kinds = Counter(kind for _, c, kind in worker_pushes if c == one)
    asked = [(b - a) * 1000 for a, b in itertools.pairwise(starts)]
    _, throttled = throttle(times)
    return BotRun(n, kinds, asked, peak_per_second(times), throttled, answer_s, spacing, worker_s)


# ---------------------------------------------------------------------- what it costs
def answer_frames(recipients: int, tokens: int = 300, seconds: float = 6.0) -> int:
    """Frames per subscriber of an answer whose model sends `tokens` words evenly over
    `seconds`, as the worker's coalescer and pacer release them (simulated clock): the
    reply's row, typing on, the chunks, the final frame, typing off."""
    from chat.logic.bot.budget import BUDGET as RULES
    from chat.logic.bot.coalesce import ChunkCoalescer
    from chat.logic.bot.pacing import SendPacer

    now = [0.0]
    pacer = SendPacer(
        share=BUDGET / 5, base_window=RULES.coalesce_window, budget=BUDGET, clock=lambda: now[0]
    )
    coalescer = ChunkCoalescer(window=RULES.coalesce_window, clock=lambda: now[0])
    chunks = 0

    def release(found: list[str]) -> None:
        nonlocal chunks
        for _ in found:
            now[0] += pacer.wait()
            pacer.sent(recipients)
            chunks += 1

    for _ in range(2):  # the row, typing on
        now[0] += pacer.wait()
        pacer.sent(recipients)
    for index in range(tokens):
        arrives = now[0] + seconds / tokens
        coalescer.hold_until(pacer.next_at)
        while (due := coalescer.due_at()) is not None and due <= arrives:
            now[0] = max(now[0], due)
            release(coalescer.poll())
            coalescer.hold_until(pacer.next_at)
        now[0] = max(now[0], arrives)
        release(coalescer.feed(f"w{index} "))
    now[0] = max(now[0], pacer.next_at)
    release(coalescer.flush())
    return chunks + 4


# ---------------------------------------------------------------------- main
FAKE: Any = None


@contextmanager
def stack(port: int) -> Iterator[None]:
    """moto with the template's resources (bench/bot_stream.py's), the fake Gemini, and the
    management API of `port`."""
    global FAKE
    from bench.bot_stream import _moto_stack
    from chat import aws
    from chat.config import settings
    from local.fake_gemini import start

    environment(port)
    count_moto_cpu()
    with start() as fake, _moto_stack(fake):
        FAKE = fake
        os.environ["WEBSOCKET_MANAGEMENT_URL"] = f"http://127.0.0.1:{port}"
        settings.cache_clear()
        aws.reset()
        yield


def run(port: int, args: argparse.Namespace) -> tuple[dict[int, Sized], dict, BotRun]:
    from chat.config import settings
    from chat.logic.rooms import directory
    from chat.models import CreateRoomRequest
    from chat.principal import Principal

    global PARSE_S
    PARSE_S = parse_seconds_per_item()
    owner = Principal("owner", "owner")
    recorder, shards = Recorder(), Shards(port)
    sized: dict[int, Sized] = {}
    for n in args.sizes:
        room_id = directory.create_room(owner, CreateRoomRequest(name=f"room {n}")).room_id
        subscribe_many(room_id, n)
        one_message(port, shards, recorder, room_id, n)  # warm up
        count = args.messages if n < 10_000 or not args.quick else max(3, args.messages // 4)
        sized[n] = measure_size(port, shards, recorder, room_id, n, count)
    direct: dict[int, Sized] = {}
    for n in THRESHOLD_SIZES:
        room_id = directory.create_room(owner, CreateRoomRequest(name=f"direct {n}")).room_id
        subscribe_many(room_id, n)
        os.environ["FANOUT_SHARD_THRESHOLD"] = "1000000"
        settings.cache_clear()
        direct[n] = measure_size(port, shards, recorder, room_id, n, args.threshold_messages)
        os.environ.pop("FANOUT_SHARD_THRESHOLD")
        settings.cache_clear()
        sized.setdefault(
            n, measure_size(port, shards, recorder, room_id, n, args.threshold_messages)
        )
    bot = bot_answer(port, shards, recorder, args.bot_subscribers, args.tokens)
    return sized, direct, bot


def report(sized: dict[int, Sized], direct: dict[int, Sized], bot: BotRun) -> None:
    print(
        f"One message to a room: pushes {LATENCY_MS:.0f} ms each, FanoutShardThreshold and "
        f"FanoutShardSize 250, {CONCURRENCY} fan-out invocations at most, the account's "
        f"budget {BUDGET:,}/s; time until the last subscriber has it (modelled timeline)."
    )
    print(
        f"\n{'':>20} {'sender 1 vCPU':>19} {'sender 512 MB':>19}\n"
        f"{'subscribers':>11} {'messages':>8} {'p50':>9} {'p95':>9} {'p50':>9} {'p95':>9}"
        f" {'invocations':>11} {'throttled':>9} {'exactly once':>12}"
    )
    for n in SIZES:
        if n not in sized:
            continue
        row = sized[n]
        print(
            f"{n:>11,} {len(row.last_ms):>8} {statistics.median(row.last_ms):>6.0f} ms"
            f" {percentile(row.last_ms, 0.95):>6.0f} ms {statistics.median(row.last_512_ms):>6.0f} ms"
            f" {percentile(row.last_512_ms, 0.95):>6.0f} ms"
            f" {statistics.median(row.invocations):>11.0f} {row.throttled:>9}"
            f" {'yes' if row.exactly_once else 'NO':>12}"
        )
    print("\nWhere sharding pays: p50 of the last delivery, all pushed by the sender vs sharded.")
    print(
        f"{'subscribers':>11} {'direct 1 vCPU':>14} {'direct 512 MB':>14} {'sharded 1 vCPU':>15} {'sharded 512 MB':>15}"
    )
    for n in THRESHOLD_SIZES:
        d, s = direct[n], sized[n]
        print(
            f"{n:>11,} {statistics.median(d.last_ms):>11.0f} ms {statistics.median(d.last_512_ms):>11.0f} ms"
            f" {statistics.median(s.last_ms):>12.0f} ms {statistics.median(s.last_512_ms):>12.0f} ms"
        )
    print(
        "\nWhat it costs in API Gateway messages (each push is one; a frame sent by a client "
        "one more). A 300-token answer streamed over 6 s, through the worker's coalescer "
        "and pacer:"
    )
    print(
        f"{'subscribers':>11} {'a message':>10} {'answer frames/subscriber':>25} {'an answer':>10}"
    )
    for n in (10, 100, 1_000, 10_000):
        frames = answer_frames(n)
        print(f"{n:>11,} {n + 1:>10,} {frames:>25} {frames * n:>10,}")
    page, shard = page_limit(), max(sized[max(sized)].reads, default=0)
    print(
        f"\nSubscriber reads in a room of 10,000: the sender reads its first page ({page} "
        f"subscribers in slot order): {query_ms(page):.0f} ms and {page * PARSE_S * 1000:.0f} ms "
        f"of CPU parsing it ({PARSE_S * 1e6:.0f} µs a subscriber, measured), "
        f"{before_pushes(10_000, SENDER_VCPU, page=page) * 1000:.0f} ms at 512 MB, before its "
        f"first push; each fan-out invocation reads its range of slots (at most {shard} here) "
        f"while it claims its shard: {DYNAMO_MS + shard * PARSE_S * 1000:.0f} ms. The whole "
        f"room would be {query_ms(10_000) + 10_000 * PARSE_S * 1000:.0f} ms on a vCPU, "
        f"{before_pushes(10_000, SENDER_VCPU, page=None) * 1000:.0f} ms at 512 MB."
    )
    share = BUDGET / 5
    print(
        f"\nBot answer, {bot.subscribers:,} subscribers, a share of {share:,.0f} pushes/s "
        f"(budget / 5 answers at once): {sum(bot.frames.values())} frames per subscriber "
        f"({bot.frames['bot_stream']} bot_stream); the pacer's turns here at least "
        f"{min(bot.spacing_ms):.0f} ms apart (answer {bot.answer_s:.1f} s on this machine). "
        f"On Lambda: the worker's own time per frame at 512 MB {bot.worker_s * 1000:.0f} ms "
        f"(its first page of subscribers and its bucket's pushes), so frames "
        f"{bot.modelled_spacing * 1000:.0f}"
        f" ms apart; peak sends in any second {bot.peak:,} (budget {BUDGET:,}/s), pushes "
        f"the account's token bucket would throttle: {bot.throttled}."
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--messages", type=int, default=20)
    parser.add_argument("--threshold-messages", type=int, default=5)
    parser.add_argument("--bot-subscribers", type=int, default=10_000)
    parser.add_argument("--tokens", type=int, default=300)
    parser.add_argument("--quick", action="store_true", help="fewer messages at 10,000")
    parser.add_argument("--sizes", type=int, nargs="+", default=list(SIZES))
    args = parser.parse_args()
    if args.serve:
        serve(LATENCY_MS / 1000, BUDGET)
        return
    import subprocess

    server = subprocess.Popen(  # noqa: S603 - this script
        [sys.executable, __file__, "--serve"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert server.stdout is not None
        port = int(server.stdout.readline())
        warnings.simplefilter("ignore")
        with (
            stack(port),
            cached_subscribers(),
            open(os.devnull, "w") as devnull,
            redirect_stdout(sys.stderr if os.environ.get("BENCH_DEBUG") else devnull),
        ):
            sized, direct, bot = run(port, args)
    finally:
        assert server.stdin is not None
        server.stdin.close()
        server.wait(10)
    print(f"(load average of this machine at the end: {os.getloadavg()[0]:.1f})")
    report(sized, direct, bot)
    # the sender as it runs: WsMessageFunction at 512 MB
    p95 = percentile(sized[10_000].last_512_ms, 0.95) if 10_000 in sized else float("nan")
    held = "yes" if bot.peak <= BUDGET and bot.throttled == 0 else "no"
    print(f"big_room subscribers=10000 p95_ms={p95:.0f} budget_held={held}")


if __name__ == "__main__":
    main()
