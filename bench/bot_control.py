"""Bot control figures: how long a stop takes to end an answer, and what the checkpoints
(which resuming clients read and which learn of a stop) cost.

The real BotWorkerFunction handler on moto (tables from template.yaml, the FIFO queue, KMS)
streams the fake Gemini's answer through the real SDK to a room with 3 joined sockets, on a
thread; the stop is the real REST route (RoomsFunction), called in-process.

- "stop → final frame": from the stop request being sent to the final `bot_stream` frame
  (`stopped: true`) being pushed to a subscriber, while the model streams (a word every
  20 ms), and while it pauses (no text for 30 s). The stop is sent at a random moment
  relative to the worker's checkpoint (every `checkpoint_interval`, 1 s), which bounds the
  latency; the contract asks for 2 s.
- "checkpoint writes": conditional UpdateItems of the streaming message per minute of an
  answer that streams for 15 s, and the reads made while the model pauses for 10 s; write
  request units from the stored item's size (1 WRU per KB, rounded up).

Run: .venv/bin/python bench/bot_control.py
"""

from __future__ import annotations

import io
import math
import os
import random
import statistics
import sys
import threading
import time
import warnings
from contextlib import redirect_stdout
from pathlib import Path
from typing import Any

_ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(_ROOT), str(_ROOT / "layers" / "shared")]

from bench.bot_stream import _moto_stack, _World  # noqa: E402
from local.fake_gemini import FakeGemini, Reply, start  # noqa: E402

STOPS = 20  # per case
WRU_PRICE = 0.625 / 1_000_000  # USD per write request unit, DynamoDB on demand (us-east-1)


def main() -> None:
    import tests.conftest  # noqa: F401  - the functions' environment, as in the tests

    warnings.filterwarnings("ignore", "No application metrics to publish")
    # dozens of commands a minute from one user: lift the bot limits for the bench
    os.environ.update(
        {"BOT_USER_COMMANDS_PER_MINUTE": "1000", "BOT_ROOM_COMMANDS_PER_MINUTE": "1000"}
    )
    out = io.StringIO()
    with start() as fake, _moto_stack(fake), redirect_stdout(out):
        world = _World()
        run_answer(world, fake, Reply(text="warm up"))  # imports, connections
        streaming = [stop_latency(world, fake, paused=False) for _ in range(STOPS)]
        paused = [stop_latency(world, fake, paused=True) for _ in range(STOPS // 2)]
        stream_costs = checkpoint_costs(
            world, fake, Reply(tokens=750, seconds=15, words_per_event=1)
        )
        pause_costs = checkpoint_costs(
            world, fake, Reply(text="one two", words_per_event=1, event_delay=10)
        )

    from chat.logic.bot.budget import BUDGET

    print(f"stop request → final frame (checkpoint every {BUDGET.checkpoint_interval:g} s):")
    for name, latencies in (("model streaming", streaming), ("model paused", paused)):
        ordered = sorted(latencies)
        p95 = ordered[min(len(ordered) - 1, math.ceil(0.95 * len(ordered)) - 1)]
        print(
            f"  {name:16} n={len(ordered):<3} p50 {statistics.median(ordered) * 1000:5.0f} ms"
            f"   p95 {p95 * 1000:5.0f} ms   max {ordered[-1] * 1000:5.0f} ms"
        )
    writes, reads, seconds, wru = stream_costs
    per_minute = writes / seconds * 60
    print(
        f"checkpoints while text streams: {writes} writes in {seconds:.1f} s = "
        f"{per_minute:.0f} writes/min; {wru / seconds * 60:.0f} WRU/min "
        f"(≈ ${wru / seconds * 60 * WRU_PRICE * 1000:.3f} per 1000 minutes of answers); "
        f"{reads} reads"
    )
    writes, reads, seconds, _ = pause_costs
    print(
        f"while the model pauses: {reads} reads (no writes beyond {writes}) in {seconds:.1f} s "
        f"= {reads / seconds * 60:.0f} consistent reads/min"
    )


# ------------------------------------------------------------------------------ runs
class _Run:
    """One command answered by the worker on a thread."""

    def __init__(self, world: _World, fake: FakeGemini, reply: Reply):
        import boto3

        from tests.support.clients import handler_of
        from tests.support.events import LambdaContext, sqs_event

        fake.script(reply)
        world.sockets.timed.clear()
        world.rest.post(
            f"/rooms/{world.room['room_id']}/messages", {"content": "@bot go"}, token=world.token
        )
        sqs = boto3.client("sqs")
        queue_url = os.environ["BOT_QUEUE_URL"]
        self.records = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10)["Messages"]
        arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])[
            "Attributes"
        ]["QueueArn"]
        event = sqs_event(self.records, arn)
        handler = handler_of("BotWorkerFunction")
        self.started = time.perf_counter()
        self.thread = threading.Thread(
            target=handler, args=(event, LambdaContext("BotWorkerFunction", 120_000))
        )
        self.thread.start()
        self.world = world

    def frames(self) -> list[tuple[float, dict[str, Any]]]:
        first = self.world.clients[0].connection_id
        return [
            (at, frame)
            for at, connection, frame in list(self.world.sockets.timed)
            if connection == first and frame["type"] == "bot_stream"
        ]

    def wait_for(self, predicate, timeout: float = 30) -> tuple[float, dict[str, Any]]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for at, frame in self.frames():
                if predicate(frame):
                    return at, frame
            time.sleep(0.002)
        raise RuntimeError("the frame never came")

    def finish(self) -> None:
        import boto3

        self.thread.join(120)
        sqs = boto3.client("sqs")
        for record in self.records:
            sqs.delete_message(
                QueueUrl=os.environ["BOT_QUEUE_URL"], ReceiptHandle=record["ReceiptHandle"]
            )


def run_answer(world: _World, fake: FakeGemini, reply: Reply) -> None:
    _Run(world, fake, reply).finish()


def stop_latency(world: _World, fake: FakeGemini, *, paused: bool) -> float:
    reply = (
        Reply(text="first " + "word " * 10, words_per_event=1, event_delay=30)
        if paused
        else Reply(tokens=3000, seconds=60, words_per_event=1)
    )
    run = _Run(world, fake, reply)
    _, first = run.wait_for(lambda frame: True)
    time.sleep(random.uniform(0.2, 1.6))  # any phase of the checkpoint cycle
    sent = time.perf_counter()
    result = world.rest.post(
        f"/rooms/{world.room['room_id']}/messages/{first['message_id']}/stop", token=world.token
    )
    assert result.status == 202, result.body
    ended, final = run.wait_for(lambda frame: frame["is_complete"])
    assert final["stopped"] is True
    run.finish()
    return ended - sent


def checkpoint_costs(world: _World, fake: FakeGemini, reply: Reply) -> tuple[int, int, float, int]:
    from chat.dal import messages as message_table

    writes: list[int] = []
    reads: list[int] = []
    real_checkpoint, real_read = message_table.checkpoint, message_table.stop_requested

    def counted_checkpoint(room_id, message_id, content, seq):
        # the item: ~300 bytes of ids, type, status, times, plus the content (UTF-8)
        writes.append(math.ceil((300 + len(content.encode("utf-8"))) / 1024))
        return real_checkpoint(room_id, message_id, content, seq)

    def counted_read(room_id, message_id):
        reads.append(1)
        return real_read(room_id, message_id)

    message_table.checkpoint, message_table.stop_requested = counted_checkpoint, counted_read
    try:
        run = _Run(world, fake, reply)
        first_at, _ = run.wait_for(lambda frame: True)
        ended_at, _ = run.wait_for(lambda frame: frame["is_complete"], timeout=60)
        run.finish()
    finally:
        message_table.checkpoint, message_table.stop_requested = real_checkpoint, real_read
    return len(writes), len(reads), ended_at - first_at, sum(writes)


if __name__ == "__main__":
    main()
