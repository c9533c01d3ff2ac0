"""The local stack's moto DynamoDB (local.moto_dynamodb): moto's semantics, at the cost
of the items a transaction touches instead of a deep copy of every table it touches."""

from __future__ import annotations

import copy
import json

import boto3
import pytest
from botocore.exceptions import ClientError
from moto import mock_aws
from moto.dynamodb.models import DynamoDBBackend

from local import moto_dynamodb


@pytest.fixture
def dynamodb(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr(DynamoDBBackend, "transact_write_items", moto_dynamodb.transact_write_items)
    copies: list[str] = []
    real = copy.deepcopy

    def counting(value, memo=None):
        copies.append(type(value).__name__)
        return real(value, memo)

    monkeypatch.setattr(copy, "deepcopy", counting)
    with mock_aws():
        client = boto3.client("dynamodb", region_name="us-east-1")
        for name in ("members", "messages"):
            client.create_table(
                TableName=name,
                KeySchema=[
                    {"AttributeName": "pk", "KeyType": "HASH"},
                    {"AttributeName": "sk", "KeyType": "RANGE"},
                ],
                AttributeDefinitions=[
                    {"AttributeName": "pk", "AttributeType": "S"},
                    {"AttributeName": "sk", "AttributeType": "S"},
                ],
                BillingMode="PAY_PER_REQUEST",
            )
        client.put_item(TableName="members", Item={"pk": {"S": "room"}, "sk": {"S": "alice"}})
        client.put_item(
            TableName="messages",
            Item={"pk": {"S": "room"}, "sk": {"S": "m0"}, "text": {"S": "before"}},
        )
        yield client, copies


def _transaction(member: str, message_id: str, text: str) -> list[dict]:
    return [
        {
            "ConditionCheck": {
                "TableName": "members",
                "Key": {"pk": {"S": "room"}, "sk": {"S": member}},
                "ConditionExpression": "attribute_exists(pk)",
            }
        },
        {
            "Put": {
                "TableName": "messages",
                "Item": {"pk": {"S": "room"}, "sk": {"S": message_id}, "text": {"S": text}},
            }
        },
    ]


def _texts(client) -> dict[str, str]:
    items = client.scan(TableName="messages")["Items"]
    return {item["sk"]["S"]: item["text"]["S"] for item in items}


def test_a_transaction_whose_conditions_hold_writes_without_copying_a_table(dynamodb):
    client, copies = dynamodb
    copies.clear()
    client.transact_write_items(TransactItems=_transaction("alice", "m1", "hello"))
    assert _texts(client) == {"m0": "before", "m1": "hello"}
    assert "Table" not in copies


def test_a_cancelled_transaction_leaves_every_item_as_it_was(dynamodb):
    client, _ = dynamodb
    # Given a transaction whose first operation writes and whose last one fails
    items = [
        {
            "Put": {
                "TableName": "messages",
                "Item": {"pk": {"S": "room"}, "sk": {"S": "m0"}, "text": {"S": "overwritten"}},
            }
        },
        {
            "Put": {
                "TableName": "messages",
                "Item": {"pk": {"S": "room"}, "sk": {"S": "m9"}, "text": {"S": "new"}},
            }
        },
        *_transaction("mallory", "m2", "not a member")[:1],
    ]
    # When it runs, it is cancelled with moto's reasons
    with pytest.raises(ClientError) as cancelled:
        client.transact_write_items(TransactItems=items)
    assert cancelled.value.response["Error"]["Code"] == "TransactionCanceledException"
    reasons = [r["Code"] for r in cancelled.value.response["CancellationReasons"]]
    assert reasons == ["None", "None", "ConditionalCheckFailed"]
    # and nothing it wrote remains: the overwritten item is back, the new one is gone
    assert _texts(client) == {"m0": "before"}


def test_a_cancelled_transaction_leaves_no_stream_record(dynamodb):
    client, _ = dynamodb
    client.update_table(
        TableName="messages",
        StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"},
    )
    streams = boto3.client("dynamodbstreams", region_name="us-east-1")
    arn = client.describe_table(TableName="messages")["Table"]["LatestStreamArn"]
    (shard,) = streams.describe_stream(StreamArn=arn)["StreamDescription"]["Shards"]

    def records() -> list[str]:
        iterator = streams.get_shard_iterator(
            StreamArn=arn, ShardId=shard["ShardId"], ShardIteratorType="TRIM_HORIZON"
        )["ShardIterator"]
        found = streams.get_records(ShardIterator=iterator)["Records"]
        return [r["dynamodb"]["Keys"]["sk"]["S"] for r in found]

    # A member's message is written and streamed; a non-member's is neither (the Put of the
    # cancelled transaction ran before its condition check failed, as moto runs them)
    client.transact_write_items(TransactItems=_transaction("alice", "m1", "hello"))
    with pytest.raises(ClientError):
        client.transact_write_items(
            TransactItems=list(reversed(_transaction("mallory", "m2", "x")))
        )
    assert records() == ["m1"]
    assert _texts(client) == {"m0": "before", "m1": "hello"}


def test_two_operations_on_one_item_are_refused_before_anything_is_written(dynamodb):
    client, _ = dynamodb
    twice = _transaction("alice", "m1", "a") + _transaction("alice", "m1", "b")[1:]
    with pytest.raises(ClientError) as refused:
        client.transact_write_items(TransactItems=twice)
    assert refused.value.response["Error"]["Code"] == "ValidationException"
    assert _texts(client) == {"m0": "before"}


def test_a_transaction_sent_again_with_its_token_is_a_success_that_changes_nothing(
    dynamodb, monkeypatch
):
    from moto.dynamodb.responses import DynamoHandler

    monkeypatch.setattr(
        DynamoHandler, "transact_write_items", moto_dynamodb.transact_write_items_request
    )
    monkeypatch.setattr(moto_dynamodb, "_tokens", {})
    client, _ = dynamodb
    # Given a transaction that succeeded, and its message deleted since
    items = _transaction("alice", "m1", "hello")
    client.transact_write_items(TransactItems=items, ClientRequestToken="token-1")
    client.delete_item(TableName="messages", Key={"pk": {"S": "room"}, "sk": {"S": "m1"}})
    # When it is sent again with its token (botocore's retry), it succeeds and writes nothing
    client.transact_write_items(TransactItems=items, ClientRequestToken="token-1")
    assert _texts(client) == {"m0": "before"}
    # and the token with other items is refused, as DynamoDB refuses it
    with pytest.raises(ClientError) as refused:
        client.transact_write_items(
            TransactItems=_transaction("alice", "m2", "other"), ClientRequestToken="token-1"
        )
    assert refused.value.response["Error"]["Code"] == "IdempotentParameterMismatchException"
    # while a new token runs the transaction again
    client.transact_write_items(TransactItems=items, ClientRequestToken="token-2")
    assert _texts(client) == {"m0": "before", "m1": "hello"}


def test_data_plane_responses_are_what_motos_serialiser_writes(monkeypatch):
    # Given moto's own serialiser and ours side by side on the same results
    from moto.dynamodb.responses import DynamoHandler

    compared: list[str] = []

    def both(self, action_result):
        status, headers, body = moto_dynamodb._serialized(self, action_result)
        fast = moto_dynamodb.serialized(self, action_result)
        assert (fast[0], json.loads(fast[2] or "{}")) == (status, json.loads(body or "{}"))
        compared.append(self._get_action())
        return status, headers, body

    monkeypatch.setattr(DynamoHandler, "serialized", both)
    with mock_aws():
        client = boto3.client("dynamodb", region_name="us-east-1")
        client.create_table(
            TableName="t",
            KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
        )
        item = {
            "pk": {"S": "a"},
            "n": {"N": "5"},
            "l": {"L": [{"N": "1"}, {"M": {"m": {"BOOL": True}}}]},
            "ss": {"SS": ["x", "y"]},
            "b": {"B": b"bytes"},
            "null": {"NULL": True},
        }
        # When the data-plane operations run
        client.put_item(TableName="t", Item=item)
        client.get_item(TableName="t", Key={"pk": {"S": "a"}})
        client.query(
            TableName="t",
            KeyConditionExpression="pk = :a",
            ExpressionAttributeValues={":a": {"S": "a"}},
            Limit=1,
        )
        client.scan(TableName="t")
        client.update_item(
            TableName="t",
            Key={"pk": {"S": "a"}},
            UpdateExpression="SET n = :n",
            ExpressionAttributeValues={":n": {"N": "6"}},
            ReturnValues="ALL_NEW",
        )
        client.batch_get_item(RequestItems={"t": {"Keys": [{"pk": {"S": "a"}}]}})
        client.delete_item(TableName="t", Key={"pk": {"S": "a"}}, ReturnValues="ALL_OLD")
    # Then both wrote the same responses for each
    assert {
        "PutItem",
        "GetItem",
        "Query",
        "Scan",
        "UpdateItem",
        "BatchGetItem",
        "DeleteItem",
    } <= set(compared)


def test_a_query_reads_its_partition_only_and_answers_as_moto_does(monkeypatch):
    from moto.dynamodb.models.table import Table

    def run_queries() -> list:
        with mock_aws():
            client = boto3.client("dynamodb", region_name="us-east-1")
            client.create_table(
                TableName="t",
                KeySchema=[
                    {"AttributeName": "pk", "KeyType": "HASH"},
                    {"AttributeName": "sk", "KeyType": "RANGE"},
                ],
                AttributeDefinitions=[
                    {"AttributeName": "pk", "AttributeType": "S"},
                    {"AttributeName": "sk", "AttributeType": "S"},
                ],
                BillingMode="PAY_PER_REQUEST",
            )
            for n in range(60):
                item = {"pk": {"S": f"p{n % 3}"}, "sk": {"S": f"{n:03d}"}, "t": {"S": f"w{n % 4}"}}
                client.put_item(TableName="t", Item=item)
            answers = []
            for kwargs in (
                {
                    "KeyConditionExpression": "pk = :p",
                    "ExpressionAttributeValues": {":p": {"S": "p1"}},
                },
                {
                    "KeyConditionExpression": "pk = :p AND sk < :s",
                    "FilterExpression": "t = :t",
                    "ExpressionAttributeValues": {
                        ":p": {"S": "p2"},
                        ":s": {"S": "050"},
                        ":t": {"S": "w1"},
                    },
                    "ScanIndexForward": False,
                    "Limit": 4,
                },
                {
                    "KeyConditionExpression": "pk = :p",
                    "ExpressionAttributeValues": {":p": {"S": "none"}},
                },
                {
                    "KeyConditionExpression": "pk = :p AND sk BETWEEN :a AND :b",
                    "ExpressionAttributeValues": {
                        ":p": {"S": "p0"},
                        ":a": {"S": "010"},
                        ":b": {"S": "040"},
                    },
                    "Limit": 3,
                },
                {
                    "KeyConditionExpression": "pk = :p AND begins_with(sk, :s)",
                    "ExpressionAttributeValues": {":p": {"S": "p1"}, ":s": {"S": "04"}},
                    "ScanIndexForward": False,
                },
                {
                    "KeyConditionExpression": "pk = :p AND sk >= :s",
                    "ExpressionAttributeValues": {":p": {"S": "p2"}, ":s": {"S": "020"}},
                    "Limit": 2,
                },
                {
                    "KeyConditionExpression": "pk = :p AND sk <= :s",
                    "FilterExpression": "t <> :t",
                    "ExpressionAttributeValues": {
                        ":p": {"S": "p0"},
                        ":s": {"S": "045"},
                        ":t": {"S": "w0"},
                    },
                    "ScanIndexForward": False,
                    "Limit": 3,
                },
                {
                    "KeyConditionExpression": "pk = :p AND sk > :s",
                    "ExpressionAttributeValues": {":p": {"S": "p1"}, ":s": {"S": "010"}},
                    "ScanIndexForward": False,
                    "Limit": 5,
                },
                {
                    "KeyConditionExpression": "pk = :p AND sk = :s",
                    "ExpressionAttributeValues": {":p": {"S": "p1"}, ":s": {"S": "019"}},
                },
            ):
                pages, start = [], None
                while True:
                    extra = {"ExclusiveStartKey": start} if start else {}
                    page = client.query(TableName="t", **kwargs, **extra)
                    pages.append((page["Items"], page["Count"], page["ScannedCount"]))
                    start = page.get("LastEvaluatedKey")
                    if not start:
                        break
                answers.append(pages)
            return answers

    expected = run_queries()  # moto as it is
    monkeypatch.setattr(Table, "all_items", moto_dynamodb.all_items)
    monkeypatch.setattr(Table, "query", moto_dynamodb.query)
    read: list[int] = []
    partition = moto_dynamodb._partition

    def counting(self):
        items = moto_dynamodb.all_items(self)
        read.append(len(items))
        return items

    monkeypatch.setattr(Table, "all_items", counting)
    assert run_queries() == expected
    assert partition.items is None
    assert read and max(read) <= 20  # one partition of 20, never the table's 60
    # and of it what DynamoDB reads: the items meeting the key condition, a page of `Limit`
    # of them (one more tells moto that the page is not the last)
    assert read[0] == 20 and max(read[1:]) <= 6  # the largest Limit is 5
