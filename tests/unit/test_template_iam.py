"""Least privilege, on the template as SAM translates it: each function's role allows the
DynamoDB actions its code makes on each table and nothing more (the integration tests hold
every handler to these: tests/support/iam.py), never a Scan or a wildcard; the keys trust
what they must and no more."""

from __future__ import annotations

import json
from collections import defaultdict

from local.template import resources_of_type
from tests.support import iam
from tests.support.sam import translated

# function -> table (or table/index) -> the DynamoDB actions it may make there
EXPECTED = {
    "AuthFunction": {
        "UsersTable": {"GetItem", "PutItem"},
        "RateLimitsTable": {"UpdateItem"},  # every limit is one conditional update
    },
    "RoomsFunction": {
        # reads names, claims bots' names (USERNAME# keys only); password hashes are Auth's
        "UsersTable": {"GetItem", "BatchGetItem", "PutItem"},
        "RoomsTable": {"GetItem", "BatchGetItem", "PutItem", "UpdateItem", "DeleteItem"},
        "MembershipsTable": {
            "GetItem", "BatchGetItem", "Query", "PutItem", "UpdateItem", "DeleteItem",
            "ConditionCheckItem",
        },
        "MembershipsTable/index/by_user": {"Query"},
        "MessagesTable": {"GetItem", "Query", "PutItem", "UpdateItem"},
        "ConnectionsTable": {"Query", "DeleteItem", "BatchWriteItem"},
        "RateLimitsTable": {"UpdateItem"},
        "AttachmentsTable": {"BatchGetItem", "PutItem", "UpdateItem", "BatchWriteItem"},
        "ClientIdsTable": {"GetItem", "PutItem"},  # claimed with a message, read on a retry
        "NotificationsTable": {"Query", "PutItem", "BatchWriteItem"},  # mention inbox
        "NotificationsTable/index/by_room_member": {"Query"},  # unread mention counts
    },
    "WsAuthorizerFunction": {"UsersTable": {"GetItem"}},  # revocations
    "WsConnectFunction": {
        "ConnectionsTable": {"Query", "BatchWriteItem"},
        "UsersTable": {"GetItem"},  # revocations, checked again once recorded
    },
    "WsMessageFunction": {
        "AttachmentsTable": {"BatchGetItem", "UpdateItem"},
        "ConnectionsTable": {"Query", "PutItem", "DeleteItem", "ConditionCheckItem", "BatchWriteItem"},
        "RoomsTable": {"GetItem", "UpdateItem"},  # GetItem: the named bots (@name)
        "MembershipsTable": {"GetItem", "BatchGetItem", "ConditionCheckItem"},
        "MessagesTable": {"GetItem", "PutItem", "UpdateItem"},
        "RateLimitsTable": {"UpdateItem"},
        "ClientIdsTable": {"GetItem", "PutItem"},
        "UsersTable": {"BatchGetItem"},  # mentioned names
        "NotificationsTable": {"PutItem", "BatchWriteItem"},  # mention inbox entries
    },
    "BotWorkerFunction": {
        "RoomsTable": {"GetItem", "UpdateItem"},  # UpdateItem: the bots' usage counters too
        "MembershipsTable": {"GetItem", "Query"},  # read only
        # BatchGetItem: what room_search found, read back as stored now
        "MessagesTable": {"GetItem", "BatchGetItem", "Query", "PutItem", "UpdateItem"},
        "SearchIndexTable": {"BatchGetItem", "Query"},  # the room_search tool
        "ConnectionsTable": {"Query", "BatchWriteItem"},
        "IdempotencyTable": {"GetItem", "PutItem", "UpdateItem", "DeleteItem"},
    },
    "SearchFunction": {
        "UsersTable": {"GetItem"},  # revocations
        "SearchIndexTable": {"BatchGetItem", "Query"},  # buckets' heads, then postings
        "MessagesTable": {"BatchGetItem"},  # the candidates, read back as stored now
        "MembershipsTable": {"BatchGetItem"},  # the caller's memberships now
        "MembershipsTable/index/by_user": {"Query"},
    },
    # postings and heads written; a head read before it changes (built from a Query); a room
    # seen for the first time: whether it holds other messages
    "SearchIndexerFunction": {
        "SearchIndexTable": {"BatchWriteItem", "BatchGetItem", "Query"},
        "MessagesTable": {"Query"},
    },
    "AccountFunction": {
        # credentials, revocations; the account's changes in one transaction; the email claim
        "UsersTable": {"GetItem", "UpdateItem", "DeleteItem"},
        "RateLimitsTable": {"UpdateItem"},  # a password asked for again is a login attempt
        # the sockets of revoked tokens; a leaving account's subscriptions
        "ConnectionsTable": {"Query", "DeleteItem", "BatchWriteItem"},
        # a closing account leaves its rooms as leaving does
        "RoomsTable": {"GetItem", "UpdateItem"},
        "MembershipsTable": {"GetItem", "Query", "UpdateItem", "DeleteItem"},
        "MembershipsTable/index/by_user": {"Query"},
        "NotificationsTable": {"Query", "DeleteItem"},  # push subscriptions
    },
    "AccountEraserFunction": {
        "UsersTable": {"GetItem"},  # the account is closed
        "RoomsTable": {"GetItem", "UpdateItem"},
        "MembershipsTable": {"GetItem", "Query", "UpdateItem", "DeleteItem"},
        "MembershipsTable/index/by_user": {"Query"},
        "MessagesTable": {"GetItem", "UpdateItem"},  # each message tombstoned
        "MessagesTable/index/by_author": {"Query"},  # the account's messages, no Scan
        "ConnectionsTable": {"Query", "DeleteItem", "BatchWriteItem"},
        "AttachmentsTable": {"BatchWriteItem"},  # a tombstoned message's files' records
    },
    "NotificationsFunction": {
        "UsersTable": {"GetItem"},  # revocations
        "NotificationsTable": {"Query", "GetItem", "PutItem", "UpdateItem", "DeleteItem"},
        "MembershipsTable": {"BatchGetItem", "UpdateItem"},  # rooms still in; levels
        "MessagesTable": {"BatchGetItem"},  # the inbox's messages as stored now
    },
    "NotifierFunction": {
        "MessagesTable": {"GetItem"},
        "RoomsTable": {"GetItem"},
        "MembershipsTable": {"Query", "BatchGetItem"},
        "ConnectionsTable": {"Query", "BatchWriteItem"},
        "NotificationsTable": {"Query", "GetItem", "DeleteItem"},
    },
    # shard markers (UpdateItem, PutItem); gone connections and their presence
    "FanoutFunction": {"ConnectionsTable": {"UpdateItem", "PutItem", "Query", "BatchWriteItem"}},
}  # fmt: skip


def _granted() -> dict[str, dict[str, set[str]]]:
    granted: dict[str, dict[str, set[str]]] = {}
    for function, grants in iam.dynamodb_grants().items():
        tables = granted.setdefault(function, defaultdict(set))
        for action, resource in grants:
            tables[resource.split(":table/", 1)[1]].add(action.split(":", 1)[1])
    return {function: dict(tables) for function, tables in granted.items()}


def test_each_function_may_make_exactly_its_dynamodb_calls():
    assert _granted() == EXPECTED


def _statements() -> list[tuple[str, dict]]:
    found = []
    for name, role in resources_of_type(translated(), "AWS::IAM::Role").items():
        for policy in role["Properties"].get("Policies") or []:
            document = policy.get("PolicyDocument") or {}
            found += [(name, s) for s in document.get("Statement", [])]
    return found


def test_no_role_scans_or_uses_a_dynamodb_wildcard():
    for role, statement in _statements():
        actions = (
            statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
        )
        for action in actions:
            assert action.lower() != "dynamodb:scan", role
            assert not (action.startswith("dynamodb:") and "*" in action), (role, action)
            assert action != "*", role
    template_text = json.dumps(translated())
    assert "DynamoDBCrudPolicy" not in template_text


def test_the_worker_decrypts_a_shared_keys_cmk_only_through_secrets_manager_for_that_secret():
    worker = translated()["Resources"]["BotWorkerFunctionRole"]["Properties"]["Policies"]
    conditional = [p for p in worker if "Fn::If" in p]
    decrypts = [
        p["Fn::If"][1]
        for p in conditional
        if "kms:Decrypt" in json.dumps(p) and p["Fn::If"][0] == "HasSharedGeminiKey"
    ]
    ((statement,),) = [d["PolicyDocument"]["Statement"] for d in decrypts]
    assert statement["Action"] == "kms:Decrypt"
    condition = statement["Condition"]["StringEquals"]
    assert condition["kms:ViaService"] == {"Fn::Sub": "secretsmanager.${AWS::Region}.amazonaws.com"}
    assert condition["kms:EncryptionContext:SecretARN"] == {"Ref": "SharedGeminiKeySecretArn"}


def test_the_alarm_topic_key_trusts_this_accounts_alarms_only():
    policy = translated()["Resources"]["AlarmTopicKey"]["Properties"]["KeyPolicy"]
    (cloudwatch,) = [
        s
        for s in policy["Statement"]
        if s["Principal"].get("Service") == "cloudwatch.amazonaws.com"
    ]
    assert cloudwatch["Condition"]["StringEquals"] == {
        "aws:SourceAccount": {"Ref": "AWS::AccountId"}
    }
    assert "alarm:*" in cloudwatch["Condition"]["ArnLike"]["aws:SourceArn"]["Fn::Sub"]


def test_the_rooms_function_puts_only_username_claims_in_the_users_table():
    role = translated()["Resources"]["RoomsFunctionRole"]["Properties"]["Policies"]
    puts = [
        statement
        for policy in role
        if "PolicyDocument" in policy
        for statement in policy["PolicyDocument"]["Statement"]
        if "dynamodb:PutItem" in json.dumps(statement.get("Action"))
        and "UsersTable" in json.dumps(statement["Resource"])
    ]
    (statement,) = puts
    assert statement["Action"] == "dynamodb:PutItem"
    assert statement["Condition"] == {
        "ForAllValues:StringLike": {"dynamodb:LeadingKeys": ["USERNAME#*"]}
    }
