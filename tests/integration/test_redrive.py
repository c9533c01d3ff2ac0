"""`make redrive STACK=…` (tools/redrive.py) on moto: a stack's dead-letter queue emptied back
into its bot queue, each room's commands in order, with their attributes."""

from __future__ import annotations

import json

import boto3
import pytest
from moto import mock_aws

from tools import redrive

TEMPLATE = {
    "Resources": {
        "BotCommandsDeadLetterQueue": {
            "Type": "AWS::SQS::Queue",
            "Properties": {"FifoQueue": True, "QueueName": "dead.fifo"},
        },
        "BotCommandsQueue": {
            "Type": "AWS::SQS::Queue",
            "Properties": {"FifoQueue": True, "QueueName": "commands.fifo"},
        },
    },
    "Outputs": {
        "BotCommandsQueueUrl": {"Value": {"Ref": "BotCommandsQueue"}},
        "BotCommandsDeadLetterQueueUrl": {"Value": {"Ref": "BotCommandsDeadLetterQueue"}},
    },
}


@pytest.fixture
def deployed():
    with mock_aws():
        boto3.client("cloudformation").create_stack(
            StackName="chat-prod", TemplateBody=json.dumps(TEMPLATE)
        )
        yield redrive.stack_queues(boto3.client("cloudformation"), "chat-prod")


def _dead_letter(queues, room_id: str, message_id: str) -> None:
    boto3.client("sqs").send_message(
        QueueUrl=queues.dead_letter_url,
        MessageBody=json.dumps({"room_id": room_id, "message_id": message_id}),
        MessageGroupId=room_id,
        MessageDeduplicationId=message_id,
        MessageAttributes={
            "correlation_id": {"DataType": "String", "StringValue": f"req-{message_id}"}
        },
    )


def _receive_all(url: str) -> list[dict]:
    sqs, found = boto3.client("sqs"), []
    while batch := sqs.receive_message(
        QueueUrl=url, MaxNumberOfMessages=10, AttributeNames=["All"], MessageAttributeNames=["All"]
    ).get("Messages", []):
        found += batch
        for message in batch:
            sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
    return found


def test_the_stacks_dead_letters_go_back_to_its_queue_in_order(deployed):
    # Given commands of two rooms in the dead-letter queue
    for room_id, message_id in [("r1", "m1"), ("r2", "m2"), ("r1", "m3")]:
        _dead_letter(deployed, room_id, message_id)
    # When they are redriven
    assert redrive.redrive(boto3.client("sqs"), deployed) == 3
    # Then the bot queue has each with its group, body and correlation id, in room order
    back = _receive_all(deployed.queue_url)
    bodies = [
        (m["Attributes"]["MessageGroupId"], json.loads(m["Body"])["message_id"]) for m in back
    ]
    assert [b for b in bodies if b[0] == "r1"] == [("r1", "m1"), ("r1", "m3")]
    assert sorted(bodies) == [("r1", "m1"), ("r1", "m3"), ("r2", "m2")]
    for message in back:
        message_id = json.loads(message["Body"])["message_id"]
        assert message["MessageAttributes"]["correlation_id"]["StringValue"] == f"req-{message_id}"
    # and the dead-letter queue is empty: a second redrive moves nothing
    assert _receive_all(deployed.dead_letter_url) == []
    assert redrive.redrive(boto3.client("sqs"), deployed) == 0


def test_a_command_redriven_within_the_deduplication_window_is_not_dropped(deployed):
    # Given the same command id still in the bot queue (moto deduplicates against messages
    # still queued; SQS for 5 minutes after the send)
    sqs = boto3.client("sqs")
    sqs.send_message(
        QueueUrl=deployed.queue_url,
        MessageBody="{}",
        MessageGroupId="r2",
        MessageDeduplicationId="m1",
    )
    _dead_letter(deployed, "r1", "m1")
    # When it is redriven, it is queued again all the same
    assert redrive.redrive(sqs, deployed) == 1
    assert len(_receive_all(deployed.queue_url)) == 2


def test_make_redrive_names_the_stack(deployed, capsys):
    _dead_letter(deployed, "r1", "m1")
    assert redrive.main(["--stack", "chat-prod"]) == 0
    assert "moved 1 bot command(s)" in capsys.readouterr().out
    with pytest.raises(Exception, match="does not exist"):
        redrive.main(["--stack", "no-such-stack"])
