"""A bot command's answer is logged under the request that asked for it: the API Gateway
request id travels with the queued command (a message attribute) into the worker's logs,
and the X-Ray trace header (where the function is traced) into the message's
AWSTraceHeader, which Lambda's SQS event source continues the trace from."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

from chat.observability import logger
from chat.transport.sqs import _correlation_id
from local.fake_gemini import Reply
from tests.integration import test_bot_worker as bot
from tests.support.clients import handler_of
from tests.support.events import LambdaContext, ws_message_event

keyed_room = bot.keyed_room
joined = bot.joined
TRACE = "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1"


def _queued(stack: dict[str, Any]) -> list[dict[str, Any]]:
    return (
        boto3.client("sqs")
        .receive_message(
            QueueUrl=stack["queue_url"],
            MaxNumberOfMessages=10,
            AttributeNames=["All"],
            MessageAttributeNames=["All"],
        )
        .get("Messages", [])
    )


@pytest.fixture
def logs() -> Iterator[io.StringIO]:
    """What the functions log (Powertools' JSON lines), from here on."""
    handler = logger.registered_handler
    buffer = io.StringIO()
    previous = handler.setStream(buffer)
    yield buffer
    handler.setStream(previous)


def _logged(output: str, message: str) -> list[dict[str, Any]]:
    lines = (json.loads(line) for line in output.splitlines() if line.startswith("{"))
    return [line for line in lines if line.get("message") == message]


def test_a_rest_commands_request_id_reaches_the_workers_logs(
    rest, keyed_room, gemini, stack, logs, monkeypatch
):
    room, tokens = keyed_room("alice")
    gemini.script(Reply(status=403))  # the worker then logs a warning, at the tests' level
    monkeypatch.setenv("_X_AMZN_TRACE_ID", TRACE)  # as Lambda sets it in a traced function
    posted = rest.post(
        f"/rooms/{room['room_id']}/messages",
        {"content": "@bot hello"},
        token=tokens["alice"],
        request_id="rest-request-0001",
    )
    assert posted.status == 201, posted.body
    monkeypatch.delenv("_X_AMZN_TRACE_ID")

    (queued,) = _queued(stack)
    assert queued["MessageAttributes"]["correlation_id"]["StringValue"] == "rest-request-0001"
    assert queued["Attributes"]["AWSTraceHeader"] == TRACE
    assert bot.invoke(stack, [queued]) == []
    (failed,) = _logged(logs.getvalue(), "bot answer failed")
    assert failed["correlation_id"] == "rest-request-0001"


def test_a_websocket_commands_request_id_is_queued_with_it(keyed_room, connect, stack):
    room, tokens = keyed_room("alice")
    alice = connect(tokens["alice"])
    event = ws_message_event(
        alice.connection_id,
        json.dumps({"type": "message", "room_id": room["room_id"], "content": "@bot hi"}),
        "message",
        alice.authorizer,
        alice.connected_at,
    )
    assert handler_of("WsMessageFunction")(event, LambdaContext())["statusCode"] == 200
    (queued,) = _queued(stack)
    request_id = event["requestContext"]["requestId"]
    assert queued["MessageAttributes"]["correlation_id"]["StringValue"] == request_id
    assert "AWSTraceHeader" not in queued["Attributes"]  # not traced: no header to pass on


def test_a_command_without_one_is_logged_under_its_message_id():
    record = {
        "messageId": "sqs-message-1",
        "body": "{}",
        "messageAttributes": {"other": {"stringValue": "x", "dataType": "String"}},
    }
    assert _correlation_id(SQSRecord(record)) == "sqs-message-1"
