"""Rebuild the search index from the messages table: every searchable message's postings put
again (chat.logic.search.postings, the indexer's own rule).

For a stack deployed before search existed (its stream only carries changes made after the
indexer's event source was created), and to repair rooms after a batch of changes reached the
indexer's failure queue (docs/search.md). It only puts postings, which the indexer would put
too, so it is safe while the indexer runs; a message deleted meanwhile is never shown (every
result is read back from the messages table), and its stale postings go with its next change.

    PYTHONPATH=layers/shared .venv/bin/python tools/reindex_search.py --stack chat [--room ID ...]
    … --messages-table NAME --index-table NAME     (without CloudFormation)

Uses the default AWS credentials and region (or --region). A developer tool: it lives outside
the deployed layer, and it Scans the messages table when no room is named.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Iterator
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


def stack_tables(stack: str, cloudformation: Any) -> tuple[str, str]:
    """The physical names of MessagesTable and SearchIndexTable of a deployed stack."""
    resources = cloudformation.describe_stack_resources(StackName=stack)["StackResources"]
    names = {r["LogicalResourceId"]: r["PhysicalResourceId"] for r in resources}
    return names["MessagesTable"], names["SearchIndexTable"]


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


def reindex(messages_table: str, rooms: list[str]) -> tuple[int, int]:
    """Put the postings of every searchable message; (messages read, postings put)."""
    from chat import aws
    from chat.dal import search_index
    from chat.logic.search.postings import postings_of

    table = aws.dynamodb_resource().Table(messages_table)
    read = put = 0
    pending: list[search_index.Posting] = []
    for item in messages(table, rooms):
        read += 1
        pending += postings_of(item).values()
        if len(pending) >= _FLUSH_AT:
            search_index.write(pending, [])
            put, pending = put + len(pending), []
    if pending:
        search_index.write(pending, [])
        put += len(pending)
    return read, put


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
    if args.stack:
        import boto3

        messages_table, index_table = stack_tables(args.stack, boto3.client("cloudformation"))
    elif args.messages_table and args.index_table:
        messages_table, index_table = args.messages_table, args.index_table
    else:
        parser.error("give --stack, or both --messages-table and --index-table")
    for name, value in _PLACEHOLDERS.items():
        os.environ.setdefault(name, value)
    os.environ["MESSAGES_TABLE"] = messages_table
    os.environ["SEARCH_INDEX_TABLE"] = index_table
    read, put = reindex(messages_table, args.room)
    print(f"{read} messages read, {put} postings put into {index_table}")


if __name__ == "__main__":
    main()
