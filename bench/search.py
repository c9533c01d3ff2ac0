"""Search figures: what indexing costs and how fast a search is, on moto's in-process DynamoDB.

A corpus of chat messages (3-16 words each, drawn from a vocabulary of 30,000 made-up words
with a Zipf distribution, as word use is; every 8th word capitalised or accented, some
punctuation) in 50 rooms is written to the messages table; the table's stream is read
(dynamodbstreams GetRecords) and handed to the real indexer handler in batches of 100, as
Lambda's event source does. Then searches run through `chat.logic.search.service.search`,
the call `GET /search` makes (its handler adds ~1 ms of event parsing), as users with
different numbers of rooms.

Printed, at 10,000 messages and again at 100,000 (the same queries, drawn from the first
10,000 messages, so the growth is the index's, not the queries'):

- indexing: postings written per message (= write request units: every posting is < 1 KB),
  the write units of the buckets' heads and chunks (1 per KB of each head, chunk or locator
  written) and the read units of the heads and chunks read before they change,
  BatchWriteItem calls per message, indexer time per message; and what other designs would
  write for the same corpus (one posting per term only: no prefix search; levels 1 and 3
  only: rare words read through common buckets; one per prefix up to 10 characters: prefix
  queries without filters);
- per query kind (1, 2, 3 words; a 3-character prefix; a word and a prefix) and scope (one
  room; a user in 10 rooms; a user in all 50): p50 and p95 wall time, DynamoDB calls per
  query (what dominates on AWS: each is a round trip of a few ms; heads and chunks are read
  for all rooms at once, the per-room Queries run 8 at a time), postings read per query
  (ScannedCount: what the filters cost in reads), and the read request units DynamoDB would
  charge (Queries, heads and chunks: half a unit per 4 KB read; the consistent reads of
  memberships and candidates: a unit per 4 KB; each item of a BatchGetItem rounded up, one
  not found counted as read).

moto's DynamoDB runs with the local stack's patches (local.moto_dynamodb: a Query reads its
partition, not the whole table; a cheaper response serialiser), as `make dev` does. moto is
not DynamoDB: its millions of items live in this process, so the bench freezes them out of
the garbage collector's reach (gc.freeze) as it goes, or its pauses would be in the figures;
a Query costs moto time in the size of the bucket it reads; the parallel Queries of a search
across rooms share one Python interpreter; and the machine's load (printed) slows it all.

Run: .venv/bin/python bench/search.py   (about 10-20 minutes on 2 cores; MESSAGES=20000 for
a quicker run)
"""

from __future__ import annotations

import contextlib
import gc
import io
import math
import os
import random
import statistics
import sys
import time
import warnings
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

# Run as a script: the import paths pytest gets from pyproject.toml's `pythonpath`.
_ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(_ROOT), str(_ROOT / "layers" / "shared")]

ROOMS = 50
FIRST, LAST = 10_000, int(os.environ.get("MESSAGES", 100_000))
QUERIES = 40  # per kind and scope
SEED = 22
WRU_PRICE = 0.625 / 1_000_000  # USD per write request unit, DynamoDB on demand (us-east-1)
RRU_PRICE = 0.125 / 1_000_000  # USD per read request unit
POSTING_BYTES = 90  # a posting's size as DynamoDB counts it (keys, term), about

_SYLLABLES = [
    "ka",
    "to",
    "ri",
    "me",
    "sa",
    "lo",
    "ven",
    "der",
    "pla",
    "tion",
    "ing",
    "er",
    "an",
    "con",
    "de",
    "re",
    "pro",
    "ex",
    "ser",
    "ver",
    "log",
    "dat",
    "mo",
    "ni",
    "tor",
    "ba",
    "se",
    "cli",
    "ent",
    "que",
    "ry",
    "in",
    "dex",
    "ma",
    "na",
    "ge",
    "sta",
    "tus",
    "up",
    "load",
    "dep",
    "loy",
    "fa",
    "il",
]


# ------------------------------------------------------------------------------ corpus
@dataclass
class Corpus:
    rng: random.Random
    words: list[str] = field(default_factory=list)
    cumulative: list[float] = field(default_factory=list)

    def __post_init__(self) -> None:
        seen: set[str] = set()
        while len(self.words) < 30_000:
            word = "".join(self.rng.choices(_SYLLABLES, k=self.rng.choice((1, 2, 2, 3, 3, 4))))
            if word not in seen:
                seen.add(word)
                self.words.append(word)
        total = 0.0
        for rank in range(1, len(self.words) + 1):
            total += 1 / rank**1.05
            self.cumulative.append(total)

    def text(self) -> str:
        words = self.rng.choices(self.words, cum_weights=self.cumulative, k=self.rng.randint(3, 16))
        for index in range(0, len(words), 8):
            word = words[index]
            words[index] = word.capitalize() if index % 16 else word.replace("e", "é", 1)
        return " ".join(words) + self.rng.choice(("", "", ".", "!", "?", " 👍"))


# ------------------------------------------------------------------------------ the stack
class Calls:
    """DynamoDB calls made by this process (a botocore hook on the shared client)."""

    def __init__(self, client: Any) -> None:
        self.counts: Counter[str] = Counter()
        self.postings = 0  # posting puts and deletes (BatchWriteItem requests) to the index
        self.head_wru = 0  # write units of heads, chunks and locators (1 per KB of each)
        self.scanned = 0  # items a Query read (before its filter)
        self.rru = 0.0  # read request units, as DynamoDB would count them
        client.meta.events.register("before-parameter-build.dynamodb", self._before)
        client.meta.events.register("after-call.dynamodb.Query", self._query)
        client.meta.events.register("after-call.dynamodb.BatchGetItem", self._batch_get)

    def _before(self, params: dict[str, Any], model: Any, context: Any, **_: Any) -> None:
        self.counts[model.name] += 1
        if model.name == "BatchGetItem":
            context["asked"] = {
                table: (len(request["Keys"]), bool(request.get("ConsistentRead")))
                for table, request in params["RequestItems"].items()
            }
        if model.name == "BatchWriteItem":
            for request in params["RequestItems"].get("SearchIndexTable", []):
                put = request.get("PutRequest", {}).get("Item")
                key = put if put is not None else request["DeleteRequest"]["Key"]
                head_or_chunk = _plain(key["sk"]) == "h" or _plain(key["pk"]).endswith("#c")
                if not head_or_chunk:
                    self.postings += 1
                elif put is not None:
                    self.head_wru += math.ceil(_item_bytes(put) / 1024)
                else:
                    self.head_wru += 1

    def _batch_get(self, parsed: dict[str, Any], context: Any, **_: Any) -> None:
        """A unit per 4 KB of each key read (rounded up; a key not found: one), half a unit
        if eventually consistent."""
        found = parsed.get("Responses", {})
        for table, (asked, consistent) in context.get("asked", {}).items():
            items = found.get(table, [])
            units = asked - len(items) + sum(math.ceil(_item_bytes(i) / 4096) for i in items)
            self.rru += units * (1 if consistent else 0.5)

    def _query(self, parsed: dict[str, Any], **_: Any) -> None:
        scanned = int(parsed.get("ScannedCount", 0))
        self.scanned += scanned
        # eventually consistent: half a unit per 4 KB read (rounded up), at least half a unit
        self.rru += max(1, math.ceil(scanned * POSTING_BYTES / 4096)) / 2

    def reset(self) -> None:
        self.counts.clear()
        self.postings = self.scanned = self.head_wru = 0
        self.rru = 0.0


def _plain(value: Any) -> Any:
    """A value as Python has it (the resource's client has made attribute values by now)."""
    if isinstance(value, dict) and len(value) == 1:
        [(kind, inner)] = value.items()
        if kind == "L":
            return [_plain(v) for v in inner]
        if kind in ("S", "N"):
            return inner
    return value


def _item_bytes(item: dict[str, Any]) -> int:
    """An item's size as DynamoDB counts it: names and values (a list: 3 bytes, 1 more per
    element)."""
    size = 0
    for name, value in item.items():
        size += len(name.encode())
        value = _plain(value)
        if isinstance(value, list):
            size += 3 + sum(len(str(v).encode()) + 1 for v in value)
        else:
            size += len(str(value).encode())
    return size


@dataclass
class Indexed:
    messages: int = 0
    postings: int = 0
    head_wru: int = 0
    head_rru: float = 0.0  # the indexer's reads of heads (consistent) and of new buckets
    batch_writes: int = 0
    seconds: float = 0.0
    terms: int = 0
    prefixes: int = 0  # distinct prefixes of up to 10 characters plus the longer terms


def write_messages(count: int, corpus: Corpus, stored: list[dict[str, Any]]) -> None:
    import boto3

    from chat.ids import new_id, now_iso

    table = boto3.resource("dynamodb").Table("MessagesTable")
    with table.batch_writer() as batch:
        for _ in range(count):
            item = {
                "room_id": f"room{corpus.rng.randrange(ROOMS):02d}",
                "message_id": new_id(),
                "username": "alice",
                "content": corpus.text(),
                "message_type": "text",
                "is_bot": False,
                "created_at": now_iso(),
                "status": "complete",
            }
            batch.put_item(Item=item)
            stored.append(item)


def index_stream(stream: Any, calls: Calls, indexed: Indexed) -> None:
    """The stream's new records through the indexer handler, 100 at a time."""
    from chat.observability import metrics
    from tests.support.clients import handler_of
    from tests.support.events import LambdaContext

    handler = handler_of("SearchIndexerFunction")
    records = stream.read()
    calls.reset()
    started = time.perf_counter()
    with contextlib.redirect_stdout(io.StringIO()):  # the metrics each invocation prints
        for start in range(0, len(records), 100):
            answer = handler(stream.event(records[start : start + 100]), LambdaContext())
            assert answer == {"batchItemFailures": []}, answer
            metrics.clear_metrics()
    indexed.seconds += time.perf_counter() - started
    _freeze()
    indexed.messages += len(records)
    indexed.postings += calls.postings
    indexed.head_wru += calls.head_wru
    indexed.head_rru += calls.rru
    indexed.batch_writes += calls.counts["BatchWriteItem"]


def _freeze() -> None:
    """moto's items out of the garbage collector's way (they live as long as the bench)."""
    gc.collect()
    gc.freeze()


def other_designs(items: list[dict[str, Any]], indexed: Indexed) -> None:
    from chat.logic.search.terms import terms

    for item in items:
        found = terms(item["content"])
        indexed.terms += len(found)
        prefixes = {term[:n] for term in found for n in range(1, min(len(term), 10) + 1)}
        indexed.prefixes += len(prefixes) + sum(1 for term in found if len(term) > 10)


# ------------------------------------------------------------------------------ queries
KINDS = ("1 word", "2 words", "3 words", "prefix (3 chars)", "word + prefix")


def make_queries(rng: random.Random, items: list[dict[str, Any]], rooms: set[str]) -> dict:
    from chat.logic.search.terms import tokens

    queries: dict[str, list[str]] = {kind: [] for kind in KINDS}
    pool = [item for item in items if item["room_id"] in rooms]
    while any(len(found) < QUERIES for found in queries.values()):
        words = list(dict.fromkeys(tokens(rng.choice(pool)["content"])))
        long = [w for w in words if len(w) >= 5]
        for kind, count in (("1 word", 1), ("2 words", 2), ("3 words", 3)):
            if len(words) >= count and len(queries[kind]) < QUERIES:
                queries[kind].append(" ".join(rng.sample(words, count)))
        if long and len(queries["prefix (3 chars)"]) < QUERIES:
            queries["prefix (3 chars)"].append(rng.choice(long)[:3])
        if long and len(words) >= 2 and len(queries["word + prefix"]) < QUERIES:
            last = rng.choice(long)
            first = rng.choice([w for w in words if w != last])
            queries["word + prefix"].append(f"{first} {last[:4]}")
    return queries


@dataclass
class Scope:
    name: str
    user_id: str
    rooms: list[str]
    room_id: str | None = None  # a search of one room (room_id=)


def add_members(scopes: list[Scope]) -> None:
    import boto3

    table = boto3.resource("dynamodb").Table("MembershipsTable")
    with table.batch_writer() as batch:
        for scope in scopes:
            for room_id in scope.rooms:
                batch.put_item(
                    Item={
                        "room_id": room_id,
                        "user_id": scope.user_id,
                        "username": scope.user_id,
                        "role": "member",
                        "joined_at": "2026-01-01T00:00:00.000Z",
                    }
                )


def run_queries(scope: Scope, queries: dict[str, list[str]], calls: Calls) -> list[tuple]:
    from chat.logic.search import service
    from chat.observability import metrics
    from chat.principal import Principal

    principal = Principal(scope.user_id, scope.user_id)
    rows = []
    for kind in KINDS:
        seconds, made, scanned, found, units = [], [], [], [], []
        for q in queries[kind]:
            calls.reset()
            started = time.perf_counter()
            page = service.search(principal, q, room_id=scope.room_id, limit=20)
            seconds.append(time.perf_counter() - started)
            made.append(sum(calls.counts.values()))
            scanned.append(calls.scanned)
            units.append(calls.rru)
            found.append(len(page.results))
            metrics.clear_metrics()
        rows.append((kind, seconds, made, scanned, found, units))
    return rows


def _p95(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, math.ceil(0.95 * len(ordered)) - 1)]


def print_indexing(indexed: Indexed, total: int) -> None:
    per = indexed.postings / indexed.messages
    heads = indexed.head_wru / indexed.messages
    reads = indexed.head_rru / indexed.messages
    dollars = ((per + heads) * WRU_PRICE + reads * RRU_PRICE) * 1_000_000
    print(
        f"  indexing ({indexed.messages:,} messages, {total:,} in all): "
        f"{per:.1f} postings (WRU)/message for {indexed.terms / indexed.messages:.1f} distinct "
        f"terms, heads {heads:.1f} WRU + {reads:.1f} RRU/message; "
        f"{indexed.batch_writes / indexed.messages:.2f} BatchWriteItem/message; "
        f"{indexed.seconds / indexed.messages * 1000:.2f} ms/message in the indexer on moto; "
        f"${dollars:.2f} per million messages"
    )
    terms, prefixes = indexed.terms / indexed.messages, indexed.prefixes / indexed.messages
    print(
        f"  other designs, same corpus: one posting per term {terms:.1f}/message (no prefix "
        f"search); levels 1 and 3 only {2 * terms:.1f}/message; one per prefix up to 10 chars "
        f"{prefixes:.1f}/message (${prefixes * WRU_PRICE * 1_000_000:.2f} per million messages)"
    )


def print_queries(scope: Scope, rows: list[tuple]) -> None:
    print(f"  {scope.name}:")
    for kind, seconds, made, scanned, found, units in rows:
        print(
            f"    {kind:17} p50 {statistics.median(seconds) * 1000:6.1f} ms"
            f"  p95 {_p95(seconds) * 1000:6.1f} ms"
            f"   calls/query {statistics.mean(made):5.1f} (max {max(made):3d})"
            f"   postings read {statistics.mean(scanned):6.0f}"
            f"   results {statistics.mean(found):4.1f}"
            f"   ~{statistics.mean(units):4.1f} RRU"
        )


def main() -> None:
    import tests.conftest  # noqa: F401  - the functions' environment, as in the tests

    warnings.filterwarnings("ignore")
    import boto3
    from moto import mock_aws

    from chat import aws
    from local import moto_dynamodb
    from local.template import create_tables, load_template
    from tests.support.streams import TableStream

    moto_dynamodb.install()
    rng = random.Random(SEED)
    corpus = Corpus(rng)
    with mock_aws():
        aws.reset()
        create_tables(boto3.client("dynamodb"), load_template())
        calls = Calls(aws.dynamodb_resource().meta.client)
        stream = TableStream("MessagesTable")
        rooms = [f"room{n:02d}" for n in range(ROOMS)]
        scopes = [
            Scope("one room (room_id=)", "u50", rooms, room_id=rooms[0]),
            Scope("a user in 10 rooms", "u10", rooms[:10]),
            Scope("a user in all 50 rooms", "u50", rooms),
        ]
        add_members(scopes)
        stored: list[dict[str, Any]] = []
        queries: dict[str, dict[str, list[str]]] = {}
        indexed = Indexed()
        for checkpoint in (FIRST, LAST):
            batch = checkpoint - len(stored)
            while len(stored) < checkpoint:
                write_messages(min(5_000, checkpoint - len(stored)), corpus, stored)
                index_stream(stream, calls, indexed)
            other_designs(stored[-batch:], indexed)
            if not queries:
                for scope in scopes:
                    queries[scope.name] = make_queries(
                        random.Random(SEED + len(scope.name)),
                        stored,
                        {scope.room_id} if scope.room_id else set(scope.rooms),
                    )
            load = os.getloadavg()[0]
            print(f"== {checkpoint:,} messages in {ROOMS} rooms (load average {load:.1f})")
            print_indexing(indexed, checkpoint)
            for scope in scopes:
                print_queries(scope, run_queries(scope, queries[scope.name], calls))
            sys.stdout.flush()


if __name__ == "__main__":
    main()
