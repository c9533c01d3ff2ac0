"""Rebuild the search index from the messages table: every searchable message's postings put
again (chat.logic.search.postings, the indexer's own rule), then the heads and chunks of the
buckets it wrote to built again from their postings, and the rooms marked fresh
(chat.logic.search.heads).

For a stack deployed before search existed (its stream only carries changes made after the
indexer's event source was created), and to repair rooms after a batch of changes reached the
indexer's failure queue (docs/search.md). Postings it puts are ones the indexer would put too;
a message deleted meanwhile is never shown (every result is read back from the messages
table), and its stale postings go with its next change. Heads and chunks are the one thing the
indexer reads and writes back: with --stack, the indexer's event source is paused while the tool
runs (changes wait in the stream, nothing is lost) and resumed after, so no batch in flight
writes back a head it read before the tool rebuilt it. With table names, stop the indexer
yourself, or run the tool when nobody writes.

    PYTHONPATH=layers/shared .venv/bin/python tools/reindex_search.py --stack chat [--room ID ...]
    … --messages-table NAME --index-table NAME     (without CloudFormation)

Uses the default AWS credentials and region (or --region). A developer tool: it lives outside
the deployed layer, and it Scans the messages table when no room is named.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT / "layers" / "shared")]

# chat.config validates every variable the functions share; this tool needs two tables only.
_PLACEHOLDERS = {
    **{
        f"{name}_TABLE": "unused"
        for name in ("USERS", "ROOMS", "MEMBERSHIPS", "CONNECTIONS", "RATE_LIMITS")
    },
    "JWT_SECRET_ARN": "unused",
    "TOKEN_TTL_SECONDS": "3600",
    "DEFAULT_BOT_MODEL": "unused",
    "WEBSOCKET_MANAGEMENT_URL": "https://unused",
}
_FLUSH_AT = 500  # postings per write call (chunked into BatchWriteItem requests of 25)


def stack_resources(stack: str, cloudformation: Any) -> list[dict[str, Any]]:
    """The resources of a deployed stack (one DescribeStackResources)."""
    return list(cloudformation.describe_stack_resources(StackName=stack)["StackResources"])


def stack_tables(resources: list[dict[str, Any]]) -> tuple[str, str]:
    """The physical names of MessagesTable and SearchIndexTable of a deployed stack."""
    names = {r["LogicalResourceId"]: r["PhysicalResourceId"] for r in resources}
    return names["MessagesTable"], names["SearchIndexTable"]


def indexer_mapping(resources: list[dict[str, Any]]) -> str:
    """The UUID of the stack's search indexer's event source mapping."""
    [mapping] = [
        r["PhysicalResourceId"]
        for r in resources
        if r["ResourceType"] == "AWS::Lambda::EventSourceMapping"
        and r["LogicalResourceId"].startswith("SearchIndexerFunction")
    ]
    return str(mapping)


@contextlib.contextmanager
def indexer_paused(
    mapping: str, lambda_client: Any, sleep: Callable[[float], None]
) -> Iterator[None]:
    """The search indexer's event source `mapping` disabled, and every invocation it had
    started over (the function's timeout waited out), until the block ends; then enabled."""
    lambda_client.update_event_source_mapping(UUID=mapping, Enabled=False)
    try:
        while True:
            found = lambda_client.get_event_source_mapping(UUID=mapping)
            if found["State"] == "Disabled":
                break
            sleep(2)
        function = found["FunctionArn"]
        timeout = lambda_client.get_function_configuration(FunctionName=function)["Timeout"]
        print(f"search indexer paused; waiting {timeout} s for a batch in flight to end")
        sleep(timeout)
        yield
    finally:
        lambda_client.update_event_source_mapping(UUID=mapping, Enabled=True)
        print("search indexer resumed")


def messages(table: Any, rooms: list[str]) -> Iterator[dict[str, Any]]:
    """Every message of the rooms (a Query each), or of the table (a Scan)."""
    from boto3.dynamodb.conditions import Key

    pages = (
        [{"KeyConditionExpression": Key("room_id").eq(room)} for room in rooms] if rooms else [{}]
    )
    for request in pages:
        read = table.query if rooms else table.scan
        kwargs: dict[str, Any] = dict(request)
        while True:
            response = read(**kwargs)
            yield from response["Items"]
            if "LastEvaluatedKey" not in response:
                break
            kwargs["ExclusiveStartKey"] = response["LastEvaluatedKey"]


def reindex(messages_table: str, rooms: list[str]) -> tuple[int, int, int]:
    """Put the postings of every searchable message, then build their buckets' heads and
    chunks again from the postings and mark their rooms fresh; (messages read, postings
    put, heads built)."""
    from chat import aws
    from chat.dal import search_index
    from chat.logic.search.heads import FRESH, chain_of, heads_of
    from chat.logic.search.postings import postings_of

    table = aws.dynamodb_resource().Table(messages_table)
    read = put = 0
    pending: list[search_index.Posting] = []
    targets: dict[str, tuple[str, str | None]] = {}  # head -> (its bucket, its term)
    marks: set[str] = set()
    for item in messages(table, rooms):
        read += 1
        for posting in postings_of(item).values():
            pending.append(posting)
            marks.add(search_index.room_mark_key(posting.room_id))
            targets.update({pk: (bucket, term) for pk, bucket, term in heads_of(posting)})
        if len(pending) >= _FLUSH_AT:
            search_index.write(pending, [])
            put, pending = put + len(pending), []
    search_index.write(pending, [])
    put += len(pending)
    # Every posting of these rooms is in place: their heads and chunks, built from the whole
    # buckets as they are now (the old chunks deleted first), hold them all, and a bucket
    # without a head holds nothing shown (a message's stale postings at most), so the rooms
    # are fresh.
    built: dict[str, search_index.Head] = {}
    sealed: dict[search_index.ChunkKey, search_index.Chunk] = {}
    for pk, (bucket, term) in sorted(targets.items()):
        search_index.delete_items(search_index.chunk_keys(pk))
        built[pk], chunks = chain_of(search_index.newest(bucket, None, term))
        sealed.update({(pk, number): chunk for number, chunk in enumerate(chunks)})
        if len(built) >= _FLUSH_AT:
            search_index.write_heads(built, sealed, list(sealed))
            built, sealed = {}, {}
    built.update(dict.fromkeys(sorted(marks), search_index.Head([], FRESH)))
    search_index.write_heads(built, sealed, list(sealed))
    return read, put, len(targets)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stack", help="the deployed stack (its tables are looked up)")
    parser.add_argument("--messages-table", help="the messages table's name")
    parser.add_argument("--index-table", help="the search index table's name")
    parser.add_argument("--room", action="append", default=[], help="only this room (repeat)")
    parser.add_argument("--region", help="AWS region (default: the environment's)")
    args = parser.parse_args(argv)
    if args.region:
        os.environ["AWS_DEFAULT_REGION"] = args.region
    paused: contextlib.AbstractContextManager[None] = contextlib.nullcontext()
    if args.stack:
        import boto3

        resources = stack_resources(args.stack, boto3.client("cloudformation"))
        messages_table, index_table = stack_tables(resources)
        paused = indexer_paused(indexer_mapping(resources), boto3.client("lambda"), time.sleep)
    elif args.messages_table and args.index_table:
        messages_table, index_table = args.messages_table, args.index_table
    else:
        parser.error("give --stack, or both --messages-table and --index-table")
    for name, value in _PLACEHOLDERS.items():
        os.environ.setdefault(name, value)
    os.environ["MESSAGES_TABLE"] = messages_table
    os.environ["SEARCH_INDEX_TABLE"] = index_table
    with paused:
        read, put, heads = reindex(messages_table, args.room)
    print(
        f"{read} messages read, {put} postings put into {index_table}, {heads} buckets' heads built"
    )


if __name__ == "__main__":
    main()
