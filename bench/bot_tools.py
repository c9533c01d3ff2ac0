"""Bot tools and usage figures: what an answer with room searches, a budget and its usage
count costs the worker, in DynamoDB calls and in time.

The real BotWorkerFunction handler on moto (tables from template.yaml, the FIFO queue, KMS),
a room of SUBSCRIBERS joined sockets whose HISTORY messages were indexed through the real
stream and indexer, and the fake Gemini (real SDK) answering at once. Each case is one
command, answered RUNS times:

- "plain": no tools, no budget;
- "budget": a monthly_token_budget set (the check reads the month's counters first);
- "room_search xN": the bot has room_search and the model searches N times (each search
  is a round: a model request, the search's index Queries and its BatchGetItem), then
  answers from what it found.

"calls" are the worker's DynamoDB calls by operation (median run); "worker" is the
handler's wall time (median), which includes the fake's replies over loopback. Every
answer's end is one TransactWriteItems (the reply's terminal write and its usage count)
where an answer without usage makes one UpdateItem.

Run: .venv/bin/python bench/bot_tools.py
"""

from __future__ import annotations

import io
import os
import statistics
import sys
import time
import warnings
from collections import Counter
from contextlib import redirect_stdout
from pathlib import Path

_ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(_ROOT), str(_ROOT / "layers" / "shared")]

from bench.bot_stream import _moto_stack, _World  # noqa: E402
from local.fake_gemini import start  # noqa: E402

RUNS = 5
HISTORY = 200
WORDS = ["deploy", "budget", "friday", "review", "launch", "tulip", "design", "meeting"]


def main() -> None:
    import tests.conftest  # noqa: F401  - the functions' environment, as in the tests

    warnings.filterwarnings("ignore", "No application metrics to publish")
    rows = []
    with start() as fake, _moto_stack(fake), redirect_stdout(io.StringIO()):
        from chat.config import settings as chat_settings

        for limit in ("BOT_USER", "BOT_ROOM", "BOT_USER_TOTAL"):  # many commands in a minute
            os.environ[f"{limit}_COMMANDS_PER_MINUTE"] = "10000"
        chat_settings.cache_clear()
        world = _World()
        _fill(world)
        cases = [
            ("plain", {"tools": []}, "@bot hello [fake:usage=100/20]"),
            ("budget", {"monthly_token_budget": 10**9}, "@bot hello [fake:usage=100/20]"),
            *(
                (
                    f"room_search x{n}",
                    {"tools": ["room_search"], "monthly_token_budget": None},
                    "@bot look [fake:tool=room_search,"
                    + ",".join(f"query={WORDS[i]}" for i in range(n))
                    + ",usage=100/20]",
                )
                for n in (1, 3)
            ),
        ]
        for name, settings, content in cases:
            world.rest.put(f"/rooms/{world.room['room_id']}/bot", settings, token=world.token)
            _answer(world, content)  # warm-up
            runs = [_answer(world, content) for _ in range(RUNS)]
            rows.append((name, runs))
    print(f"bot tools: {HISTORY} indexed messages, {RUNS} runs each (median)")
    print(f"{'':16}{'worker':>10}  DynamoDB calls by operation")
    for name, runs in rows:
        wall = statistics.median(run[0] for run in runs)
        calls = sorted(runs, key=lambda run: sum(run[1].values()))[len(runs) // 2][1]
        listed = ", ".join(f"{op} {count}" for op, count in sorted(calls.items()))
        print(f"{name:16}{wall * 1000:>7.0f} ms  {sum(calls.values())}: {listed}")


def _fill(world: _World) -> None:
    """HISTORY messages in the room, indexed by the real indexer from the table's stream."""
    from tests.support.clients import handler_of
    from tests.support.events import LambdaContext
    from tests.support.streams import TableStream

    stream = TableStream("MessagesTable")
    for index in range(HISTORY):
        words = " ".join(WORDS[(index + k) % len(WORDS)] for k in range(3))
        world.rest.post(
            f"/rooms/{world.room['room_id']}/messages",
            {"content": f"note {index}: {words}"},
            token=world.token,
        )
    records = stream.read()
    handler_of("SearchIndexerFunction")(
        stream.event(records), LambdaContext("SearchIndexerFunction")
    )


def _answer(world: _World, content: str) -> tuple[float, Counter[str]]:
    import boto3

    from tests.support.clients import handler_of
    from tests.support.dynamo import count_dynamodb_calls
    from tests.support.events import LambdaContext, sqs_event

    posted = world.rest.post(
        f"/rooms/{world.room['room_id']}/messages", {"content": content}, token=world.token
    )
    assert posted.status == 201, posted.body
    sqs = boto3.client("sqs")
    queue_url = os.environ["BOT_QUEUE_URL"]
    records = sqs.receive_message(
        QueueUrl=queue_url, MaxNumberOfMessages=10, AttributeNames=["All"]
    )["Messages"]
    arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    with count_dynamodb_calls() as calls:
        started = time.perf_counter()
        handler_of("BotWorkerFunction")(
            sqs_event(records, arn), LambdaContext("BotWorkerFunction", 120_000)
        )
        wall = time.perf_counter() - started
    for record in records:
        sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=record["ReceiptHandle"])
    return wall, Counter(calls)


if __name__ == "__main__":
    main()
