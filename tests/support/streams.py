"""A table's DynamoDB Stream read as Lambda's event source reads it: the records since the
last read, every shard, in order, turned into the event the function gets."""

from __future__ import annotations

from typing import Any

import boto3

from local.events import dynamodb_stream_event


class TableStream:
    def __init__(self, table_name: str, *, dynamodb: Any = None, streams: Any = None) -> None:
        self.streams = streams or boto3.client("dynamodbstreams")
        described = (dynamodb or boto3.client("dynamodb")).describe_table(TableName=table_name)
        self.arn: str = described["Table"]["LatestStreamArn"]
        self._iterators: dict[str, str] = {}

    def read(self) -> list[dict[str, Any]]:
        """Every record written since the last read (from the stream's start at first)."""
        records: list[dict[str, Any]] = []
        description = self.streams.describe_stream(StreamArn=self.arn)["StreamDescription"]
        for shard in description["Shards"]:
            shard_id = shard["ShardId"]
            iterator = (
                self._iterators.get(shard_id)
                or self.streams.get_shard_iterator(
                    StreamArn=self.arn, ShardId=shard_id, ShardIteratorType="TRIM_HORIZON"
                )["ShardIterator"]
            )
            while True:
                response = self.streams.get_records(ShardIterator=iterator, Limit=1000)
                records += response["Records"]
                iterator = response["NextShardIterator"]
                if not response["Records"]:
                    break
            self._iterators[shard_id] = iterator
        return records

    def event(self, records: list[dict[str, Any]]) -> dict[str, Any]:
        """The event of a batch of these records, as the function gets it."""
        return dynamodb_stream_event(records, self.arn)
