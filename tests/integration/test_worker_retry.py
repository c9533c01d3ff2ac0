"""A transient failure of the bot worker costs a room seconds, not the queue's 12-minute
visibility timeout: the failed command comes back after ~2 s, is answered, and the room's
next command is answered after it (FIFO order kept).

Driven like Lambda's SQS event source on moto (BatchSize 1): receive, invoke the real
handler, delete what succeeded and leave failed records alone, so the only thing that makes
a failed command visible again early is the worker itself (chat.adapters.retry_visibility).
The failure is a KMS outage injected with a botocore hook on the worker's own KMS client.
"""

from __future__ import annotations

import time
from typing import Any

import boto3
import pytest
from aws_lambda_powertools.utilities.batch.exceptions import BatchProcessingError
from botocore.awsrequest import AWSResponse

from chat import aws
from chat.adapters import retry_visibility
from chat.config import settings
from local.fake_gemini import FakeGemini
from local.template import load_template
from tests.support.clients import handler_of
from tests.support.events import LambdaContext, sqs_event

API_KEY = "AIzaROOM-key-for-the-retry-test-0003"


@pytest.fixture
def gemini(stack: dict[str, Any], fake: FakeGemini, monkeypatch: pytest.MonkeyPatch) -> FakeGemini:
    fake.reset()
    monkeypatch.setenv("GEMINI_BASE_URL", fake.base_url)
    settings.cache_clear()
    return fake


@pytest.fixture
def queue(stack: dict[str, Any]) -> dict[str, str]:
    """The bot queue with the template's redrive policy (maxReceiveCount's default)."""
    sqs = boto3.client("sqs")
    template = load_template()
    receives = template["Parameters"]["BotCommandMaxReceiveCount"]["Default"]
    dlq_arn = sqs.get_queue_attributes(QueueUrl=stack["dlq_url"], AttributeNames=["QueueArn"])[
        "Attributes"
    ]["QueueArn"]
    sqs.set_queue_attributes(
        QueueUrl=stack["queue_url"],
        Attributes={
            "RedrivePolicy": f'{{"deadLetterTargetArn": "{dlq_arn}", "maxReceiveCount": {receives}}}'
        },
    )
    arn = sqs.get_queue_attributes(QueueUrl=stack["queue_url"], AttributeNames=["QueueArn"])[
        "Attributes"
    ]["QueueArn"]
    return {"url": stack["queue_url"], "arn": arn, "dlq_url": stack["dlq_url"]}


class KmsOutage:
    """Fails the next `count` KMS Decrypt calls of the worker's client with a 500."""

    def __init__(self, count: int) -> None:
        self.left = count
        aws.kms().meta.events.register("before-call.kms.Decrypt", self._intercept)

    def _intercept(self, params: dict[str, Any], **_: Any):
        if self.left <= 0:
            return None
        self.left -= 1
        return AWSResponse(params["url"], 500, {}, None), {
            "Error": {"Code": "KMSInternalException", "Message": "injected outage"},
            "ResponseMetadata": {"HTTPStatusCode": 500},
        }


def receive(queue: dict[str, str]) -> list[dict[str, Any]]:
    """One receive of the event source (BatchSize 1), every attribute."""
    return (
        boto3.client("sqs")
        .receive_message(QueueUrl=queue["url"], MaxNumberOfMessages=1, AttributeNames=["All"])
        .get("Messages", [])
    )


def invoke(queue: dict[str, str], records: list[dict[str, Any]]) -> bool:
    """Run the worker on a batch as Lambda does; True if it succeeded (then deleted)."""
    try:
        response = handler_of("BotWorkerFunction")(
            sqs_event(records, queue["arn"]), LambdaContext("BotWorkerFunction", 60_000)
        )
        ok = not response["batchItemFailures"]
    except BatchProcessingError:  # Powertools raises when every record failed
        ok = False
    if ok:
        for record in records:
            boto3.client("sqs").delete_message(
                QueueUrl=queue["url"], ReceiptHandle=record["ReceiptHandle"]
            )
    return ok


def wait_for_redelivery(queue: dict[str, str], limit: float) -> tuple[list[dict[str, Any]], float]:
    started = time.monotonic()
    while time.monotonic() - started < limit:
        records = receive(queue)
        if records:
            return records, time.monotonic() - started
        time.sleep(0.1)
    return [], time.monotonic() - started


def bot_replies(room_id: str) -> list[dict[str, Any]]:
    items = (
        boto3.resource("dynamodb")
        .Table(settings().messages_table)
        .query(KeyConditionExpression="room_id = :r", ExpressionAttributeValues={":r": room_id})[
            "Items"
        ]
    )
    return sorted(
        (item for item in items if item["message_type"] == "bot"), key=lambda i: i["message_id"]
    )


def test_a_transient_failure_is_retried_within_seconds_and_the_room_goes_on(
    rest, register, gemini, queue
):
    # Given a room with a key and two bot commands queued in it (one message group)
    token = register("alice")
    room = rest.post("/rooms", {"name": "r", "gemini_api_key": API_KEY}, token=token).body
    commands = [
        rest.post(
            f"/rooms/{room['room_id']}/messages", {"content": f"@bot {text}"}, token=token
        ).body
        for text in ("first [fake:text=one]", "second [fake:text=two]")
    ]
    # And KMS failing once when the worker reads the room's key
    outage = KmsOutage(count=1)

    # When the worker gets the first command and fails
    (first,) = receive(queue)
    assert commands[0]["message_id"] in first["Body"]
    assert invoke(queue, [first]) is False
    assert outage.left == 0

    # Then the room waits (FIFO: its second command is held back too) ...
    assert receive(queue) == []
    # ... for about the first backoff step, not the queue's 720 s visibility timeout
    again, waited = wait_for_redelivery(queue, limit=10)
    assert again, "the failed command did not come back within 10 s"
    assert retry_visibility.FIRST_DELAY - 0.5 <= waited <= retry_visibility.FIRST_DELAY + 2
    assert again[0]["MessageId"] == first["MessageId"]
    assert again[0]["Attributes"]["ApproximateReceiveCount"] == "2"

    # When the worker runs it again, then the room's next command
    assert invoke(queue, again) is True
    (second,) = receive(queue)
    assert commands[1]["message_id"] in second["Body"]
    assert invoke(queue, [second]) is True

    # Then both were answered, in order, once each, and nothing went to the dead letters
    replies = bot_replies(room["room_id"])
    assert [(r["reply_to"], r["status"], r["content"]) for r in replies] == [
        (commands[0]["message_id"], "complete", "one"),
        (commands[1]["message_id"], "complete", "two"),
    ]
    assert receive(queue) == []
    dead = boto3.client("sqs").receive_message(QueueUrl=queue["dlq_url"]).get("Messages", [])
    assert dead == []


def test_backoff_grows_and_is_capped():
    assert [retry_visibility.delay(n) for n in range(1, 8)] == [2, 4, 8, 16, 30, 30, 30]
    assert retry_visibility.delay(0) == 2  # a missing count is a first receive
