"""The functions' IAM policies hold in every integration test (tests/support/iam.py); these
drive the paths the other tests do not, where a function needs a permission only now and
then: pushes that find a connection gone, a deleted message's files, a bot command sent
over the WebSocket. Each would fail here if template.yaml left the permission out."""

from __future__ import annotations

import os

import boto3
import pytest
from botocore.exceptions import ClientError

from chat.dal import connections
from chat.dal import users as user_table
from tests.integration.test_attachments import uploaded
from tests.integration.test_bot_worker import deliver
from tests.support import iam
from tests.support.clients import WebSocketClient


@pytest.fixture
def joined(connect):
    def _joined(token: str, room_id: str) -> WebSocketClient:
        client = connect(token)
        assert client.send({"type": "join", "room_id": room_id}) == 200
        return client

    return _joined


def test_a_call_the_role_does_not_allow_is_refused_and_reported(stack, register):
    register("alice")
    with iam.acting_as("BotWorkerFunction"), pytest.raises(ClientError) as refused:
        user_table.get_credentials("alice")
    assert refused.value.response["Error"]["Code"] == "AccessDeniedException"
    assert iam.refusals == ["BotWorkerFunction is not allowed dynamodb:GetItem on table/UsersTable"]
    iam.refusals.clear()


def test_rooms_reads_users_but_may_not_change_them():
    # It puts a named bot's claim of its name (USERNAME# keys only: the statement's
    # condition, tests/unit/test_template_iam.py), never changes or removes an item.
    assert iam.allowed("RoomsFunction", "dynamodb:GetItem", iam.table_arn("UsersTable"))
    for action in ("UpdateItem", "DeleteItem", "BatchWriteItem"):
        assert not iam.allowed("RoomsFunction", f"dynamodb:{action}", iam.table_arn("UsersTable"))


def test_a_rest_message_that_finds_a_connection_gone_removes_it(rest, room_with, joined, sockets):
    # Given bob's socket in the room is gone
    room, tokens = room_with("alice", "bob")
    bob = joined(tokens["bob"], room["room_id"])
    sockets.gone.add(bob.connection_id)
    # When alice posts over REST (the Rooms function pushes it)
    result = rest.post(
        f"/rooms/{room['room_id']}/messages", {"content": "hi"}, token=tokens["alice"]
    )
    # Then it is stored and bob's connection is forgotten
    assert result.status == 201, result.body
    assert connections.room_subscribers(room["room_id"]) == []


def test_a_bot_answer_that_finds_a_connection_gone_removes_it(
    rest, room_with, joined, sockets, gemini, stack
):
    room, tokens = room_with("alice")
    rest.put(
        f"/rooms/{room['room_id']}/bot", {"gemini_api_key": "AIzaKEY-0001"}, token=tokens["alice"]
    )
    alice = joined(tokens["alice"], room["room_id"])
    sockets.gone.add(alice.connection_id)
    rest.post(f"/rooms/{room['room_id']}/messages", {"content": "@bot hi"}, token=tokens["alice"])
    assert deliver(stack) == []
    assert connections.room_subscribers(room["room_id"]) == []


def test_deleting_a_message_over_rest_deletes_its_attachments(rest, room_with):
    room, tokens = room_with("alice")
    attachment = uploaded(rest, room, tokens["alice"])
    message = rest.post(
        f"/rooms/{room['room_id']}/messages",
        {"content": "", "attachments": [attachment]},
        token=tokens["alice"],
    ).body
    deleted = rest.delete(
        f"/rooms/{room['room_id']}/messages/{message['message_id']}", token=tokens["alice"]
    )
    assert deleted.status in (200, 204), deleted.body
    records = boto3.resource("dynamodb").Table(os.environ["ATTACHMENTS_TABLE"])
    assert "Item" not in records.get_item(Key={"attachment_id": attachment})


def test_a_bot_command_over_the_websocket_is_counted_and_queued(room_with, joined, stack):
    room, tokens = room_with("alice")
    alice = joined(tokens["alice"], room["room_id"])
    alice.send({"type": "message", "room_id": room["room_id"], "content": "@bot hi"})
    assert alice.frames("error") == []
    queued = boto3.client("sqs").receive_message(QueueUrl=stack["queue_url"])
    assert len(queued.get("Messages", [])) == 1
