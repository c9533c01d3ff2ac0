"""Bot streaming figures: WebSocket frames per answer with and without coalescing, and the
latency coalescing adds.

The fake Gemini streams 200 one-word tokens over 2 s (an SSE event every 10 ms) through the
real SDK and chat.adapters.gemini. Each piece is fed, as it arrives, to coalescers driven the way
a synchronous worker would drive them (``feed`` per piece, ``flush`` at the end):

- "per SDK chunk": no coalescing, one frame per piece;
- "coalesced, eager first": the first piece at once, then 100 ms windows (the default);
- "coalesced, window only": the first piece waits for its window too.

"first flush overhead" is the time from the first piece arriving to the first chunk being
ready; "added latency" is how long pieces wait in the buffer before their chunk is ready.

The worker end to end ("worker" figures): the real BotWorkerFunction handler on moto (tables
from template.yaml, the FIFO queue, KMS), a room with SUBSCRIBERS joined sockets, the same
fake answer, with the worker's coalescing on (its defaults) and off (a zero window: one
frame per piece). "frames/subscriber" counts the bot_stream frames each socket got;
"first chunk overhead" is the worker's own latency from the SDK handing over the first
piece to the first bot_stream frame being pushed (it includes the subscribers Query, on
moto here); "added latency" is, per piece, the time from the SDK handing it over to the
push of the frame carrying it.

Run: .venv/bin/python bench/bot_stream.py
"""

from __future__ import annotations

import io
import os
import statistics
import sys
import time
import warnings
from contextlib import contextmanager, redirect_stdout
from dataclasses import dataclass, field, replace
from pathlib import Path

# Run as a script: the import paths pytest gets from pyproject.toml's `pythonpath`.
_ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(_ROOT), str(_ROOT / "layers" / "shared")]

from chat.adapters.gemini import GeminiClient  # noqa: E402
from chat.logic.bot.coalesce import ChunkCoalescer  # noqa: E402
from chat.logic.bot.context import Turn  # noqa: E402
from local.fake_gemini import FakeGemini, Reply, start  # noqa: E402

TOKENS, SECONDS, RUNS = 200, 2.0, 3


@dataclass
class Driver:
    name: str
    coalescer: ChunkCoalescer | None
    frames: int = 0
    first_overhead: float | None = None
    waits: list[float] = field(default_factory=list)
    _pending: list[float] = field(default_factory=list)  # arrival times of buffered pieces

    def feed(self, piece: str, arrived: float) -> None:
        chunks = self.coalescer.feed(piece) if self.coalescer else [piece]
        self._pending.append(arrived)
        self._emit(chunks)

    def finish(self) -> None:
        if self.coalescer:
            self._emit(self.coalescer.flush())

    def _emit(self, chunks: list[str]) -> None:
        if not chunks:
            return
        ready = time.perf_counter()
        if self.first_overhead is None:
            self.first_overhead = ready - self._pending[0]
        self.waits += [ready - arrived for arrived in self._pending]
        self._pending.clear()
        self.frames += len(chunks)


def drivers() -> list[Driver]:
    return [
        Driver("per SDK chunk", None),
        Driver("coalesced, eager first", ChunkCoalescer(clock=time.perf_counter)),
        Driver(
            "coalesced, window only",
            ChunkCoalescer(clock=time.perf_counter, eager_first=False),
        ),
    ]


def one_answer(client: GeminiClient, fake: FakeGemini) -> tuple[list[Driver], float, int]:
    fake.script(Reply(tokens=TOKENS, seconds=SECONDS, words_per_event=1))
    runs = drivers()
    started = time.perf_counter()
    stream = client.stream_answer(
        model="gemini-2.5-flash",
        system_instruction="bench",
        contents=[Turn("user", "alice: @bot write a long answer")],
        timeout=10,
    )
    pieces = 0
    for piece in stream:
        arrived = time.perf_counter()
        pieces += 1
        for driver in runs:
            driver.feed(piece, arrived)
    for driver in runs:
        driver.finish()
    return runs, time.perf_counter() - started, pieces


def main() -> None:
    with start() as fake:
        client = GeminiClient("bench-key", base_url=fake.base_url)
        one_answer(client, fake)  # warm-up: imports, connection
        results = [one_answer(client, fake) for _ in range(RUNS)]
        client.close()

    print(f"fake Gemini: {TOKENS} tokens over {SECONDS:g} s, one token per SSE event; {RUNS} runs")
    print(
        f"answer wall time: {statistics.median(r[1] for r in results):.2f} s median; "
        f"SDK pieces per answer: {results[0][2]}"
    )
    header = (
        f"{'':26}{'frames/answer':>14}{'first flush overhead':>22}"
        f"{'added latency mean':>20}{'max':>9}"
    )
    print(header)
    for index, name in enumerate(d.name for d in results[0][0]):
        runs = [r[0][index] for r in results]
        frames = statistics.median(d.frames for d in runs)
        overhead = statistics.median(d.first_overhead or 0.0 for d in runs)
        waits = [w for d in runs for w in d.waits]
        print(
            f"{name:26}{frames:>14.0f}{overhead * 1000:>19.3f} ms"
            f"{statistics.mean(waits) * 1000:>17.1f} ms{max(waits) * 1000:>6.0f} ms"
        )

    coalescer = ChunkCoalescer()
    started = time.perf_counter()
    for _ in range(100_000):
        coalescer.feed("word ")
    coalescer.flush()
    per_feed = (time.perf_counter() - started) / 100_000
    print(f"coalescer CPU cost: {per_feed * 1e6:.2f} µs per piece fed")
    print()
    worker_bench()


# ------------------------------------------------------------------------------ the worker
SUBSCRIBERS = 3


def worker_bench() -> None:
    import tests.conftest  # noqa: F401  - the functions' environment, as in the tests

    warnings.filterwarnings("ignore", "No application metrics to publish")
    results: dict[str, list[WorkerRun]] = {}
    # The handlers print their metrics (EMF) to stdout: keep them out of the figures.
    with start() as fake, _moto_stack(fake), redirect_stdout(io.StringIO()):
        from chat.logic.bot import budget as answer_budget

        world = _World()
        one_worker_answer(world, fake, answer_budget.BUDGET)  # warm-up: imports, connections
        for name, rules in (
            ("worker, coalesced", answer_budget.BUDGET),
            ("worker, per SDK chunk", replace(answer_budget.BUDGET, coalesce_window=0.0)),
        ):
            results[name] = [one_worker_answer(world, fake, rules) for _ in range(RUNS)]

    print(
        f"worker end to end: {TOKENS} tokens over {SECONDS:g} s, {SUBSCRIBERS} subscribers; "
        f"{RUNS} runs"
    )
    print(
        f"{'':26}{'frames/subscriber':>18}{'first chunk overhead':>22}"
        f"{'added latency mean':>20}{'max':>9}{'answer':>9}"
    )
    for name, runs in results.items():
        waits = [w for r in runs for w in r.waits]
        print(
            f"{name:26}{statistics.median(r.frames for r in runs):>18.0f}"
            f"{statistics.median(r.overhead for r in runs) * 1000:>19.2f} ms"
            f"{statistics.mean(waits) * 1000:>17.1f} ms{max(waits) * 1000:>6.0f} ms"
            f"{statistics.median(r.wall for r in runs):>7.2f} s"
        )


@dataclass
class WorkerRun:
    frames: float
    overhead: float
    waits: list[float]
    wall: float


class _World:
    """A room with a key and SUBSCRIBERS joined sockets whose pushes are timed."""

    def __init__(self) -> None:
        from tests.support.clients import RestClient, WebSocketClient

        self.rest = RestClient()
        self.sockets = _timed_sockets()
        tokens = [self._register(f"user{index}") for index in range(SUBSCRIBERS)]
        self.room = self.rest.post(
            "/rooms", {"name": "bench", "gemini_api_key": "bench-key"}, token=tokens[0]
        ).body
        for token in tokens[1:]:
            self.rest.post("/rooms/join", {"code": self.room["code"]}, token=token)
        self.token = tokens[0]
        self.clients = []
        for token in tokens:
            client = WebSocketClient(self.sockets, token)
            client.connect()
            client.send({"type": "join", "room_id": self.room["room_id"]})
            self.clients.append(client)

    def _register(self, username: str) -> str:
        body = {"username": username, "password": "correct horse battery"}
        return self.rest.post("/auth/register", body).body["access_token"]


def _timed_sockets_class():
    from urllib.parse import unquote, urlsplit

    from chat import aws
    from tests.support.clients import Sockets

    class TimedSockets(Sockets):
        """Sockets recording (time, connection, frame) for every push."""

        def __init__(self) -> None:
            super().__init__(aws.management_api())
            self.timed: list[tuple[float, str, dict]] = []

        def send(self, request):
            result = super().send(request)
            connection_id = unquote(urlsplit(request.url).path.rsplit("/", 1)[-1])
            if request.method == "POST" and self.sent.get(connection_id):
                frame = self.sent[connection_id][-1]
                self.timed.append((time.perf_counter(), connection_id, frame))
            return result

    return TimedSockets


def _timed_sockets():
    return _timed_sockets_class()()


def one_worker_answer(world: _World, fake: FakeGemini, rules) -> WorkerRun:
    import boto3

    from chat.adapters import gemini
    from chat.logic.bot import budget as answer_budget
    from tests.support.clients import handler_of
    from tests.support.events import LambdaContext, sqs_event

    answer_budget.BUDGET = rules
    handed: list[tuple[float, str]] = []  # (when the SDK handed a piece over, the piece)
    original_next = gemini.AnswerStream.__next__

    def timed_next(stream):
        piece = original_next(stream)
        handed.append((time.perf_counter(), piece))
        return piece

    gemini.AnswerStream.__next__ = timed_next
    try:
        fake.script(Reply(tokens=TOKENS, seconds=SECONDS, words_per_event=1))
        world.sockets.timed.clear()
        world.rest.post(
            f"/rooms/{world.room['room_id']}/messages",
            {"content": "@bot write a long answer"},
            token=world.token,
        )
        sqs = boto3.client("sqs")
        queue_url = os.environ["BOT_QUEUE_URL"]
        records = sqs.receive_message(
            QueueUrl=queue_url, MaxNumberOfMessages=10, AttributeNames=["All"]
        )["Messages"]
        arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])[
            "Attributes"
        ]["QueueArn"]
        started = time.perf_counter()
        handler_of("BotWorkerFunction")(
            sqs_event(records, arn), LambdaContext("BotWorkerFunction", 120_000)
        )
        wall = time.perf_counter() - started
        for record in records:
            sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=record["ReceiptHandle"])
    finally:
        gemini.AnswerStream.__next__ = original_next

    # Per piece: when the first frame whose text reaches past it was pushed.
    first_client = world.clients[0].connection_id
    pushes = [
        (at, frame["chunk"])
        for at, connection, frame in world.sockets.timed
        if connection == first_client and frame["type"] == "bot_stream" and frame["chunk"]
    ]
    frames = statistics.mean(
        sum(
            1
            for _, c, f in world.sockets.timed
            if c == client.connection_id and f["type"] == "bot_stream" and not f["is_complete"]
        )
        for client in world.clients
    )
    waits, pushed_chars, index, handed_chars = [], 0, 0, 0
    for at, chunk in pushes:
        pushed_chars += len(chunk)
        while index < len(handed) and handed_chars + len(handed[index][1]) <= pushed_chars:
            handed_chars += len(handed[index][1])
            waits.append(at - handed[index][0])
            index += 1
    return WorkerRun(frames, pushes[0][0] - handed[0][0], waits, wall)


@contextmanager
def _moto_stack(fake: FakeGemini):
    """The template's tables, queue, key and secret on moto, as the tests' `stack` fixture."""
    import boto3
    from moto import mock_aws

    from chat import aws
    from chat.config import settings
    from local.template import create_tables, load_template
    from tests.support.cloudformation import parameter_value

    with mock_aws():
        aws.reset()
        create_tables(boto3.client("dynamodb"), load_template())
        boto3.client("secretsmanager").create_secret(
            Name=os.environ["JWT_SECRET_ARN"], SecretString="bench-signing-key-" + "x" * 40
        )
        key_id = boto3.client("kms").create_key()["KeyMetadata"]["KeyId"]
        queue_url = boto3.client("sqs").create_queue(
            QueueName="BotCommandsQueue.fifo",
            Attributes={"FifoQueue": "true", "VisibilityTimeout": "720"},
        )["QueueUrl"]
        fanout_url = boto3.client("sqs").create_queue(
            QueueName="FanoutQueue.fifo", Attributes={"FifoQueue": "true"}
        )["QueueUrl"]
        boto3.client("ssm").put_parameter(
            Name="BigRoomsSettings",
            Type="String",
            Value=parameter_value(load_template(), "BigRoomsSettings"),
        )
        os.environ.update(
            {
                "GEMINI_KEYS_KMS_KEY_ID": key_id,
                "BOT_QUEUE_URL": queue_url,
                "FANOUT_QUEUE_URL": fanout_url,
                "BIG_ROOMS_PARAMETER": "BigRoomsSettings",
                "GEMINI_BASE_URL": fake.base_url,
                "POWERTOOLS_LOG_LEVEL": "ERROR",
            }
        )
        settings.cache_clear()
        yield
        aws.reset()


if __name__ == "__main__":
    main()
