"""Move the bot commands of a stack's dead-letter queue back to its bot queue, once the
reason they failed is fixed:

    make redrive STACK=collab-chat-prod

The queues are the stack's outputs (BotCommandsDeadLetterQueueUrl, BotCommandsQueueUrl).
Each command goes back to its room's message group with its body and attributes (its
correlation id, its trace header), in the order the dead-letter queue gives a group's
messages, and is deleted from the dead-letter queue only once it is queued again. A fresh
deduplication id lets a command back in within FIFO's 5-minute deduplication window; the
worker answers a command at most once whatever happens (its idempotency and the command's
stored reply), so a redriven command that was answered meanwhile is skipped.
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import dataclass
from typing import Any

_MESSAGE_ATTRIBUTE_FIELDS = ("DataType", "StringValue", "BinaryValue")


@dataclass
class Queues:
    queue_url: str
    dead_letter_url: str


def stack_queues(cloudformation: Any, stack: str) -> Queues:
    """The bot queue and its dead-letter queue of a deployed stack (its outputs)."""
    (described,) = cloudformation.describe_stacks(StackName=stack)["Stacks"]
    outputs = {o["OutputKey"]: o["OutputValue"] for o in described.get("Outputs", [])}
    try:
        return Queues(outputs["BotCommandsQueueUrl"], outputs["BotCommandsDeadLetterQueueUrl"])
    except KeyError as missing:
        raise SystemExit(f"error: stack {stack} has no output {missing}") from None


def redrive(sqs: Any, queues: Queues, *, batch: int = 10) -> int:
    """Move every message of the dead-letter queue back; the number moved."""
    moved = 0
    while True:
        received = sqs.receive_message(
            QueueUrl=queues.dead_letter_url,
            MaxNumberOfMessages=batch,
            AttributeNames=["All"],
            MessageAttributeNames=["All"],
            WaitTimeSeconds=1,
        ).get("Messages", [])
        if not received:
            return moved
        for message in received:
            sqs.send_message(QueueUrl=queues.queue_url, **_again(message))
            sqs.delete_message(
                QueueUrl=queues.dead_letter_url, ReceiptHandle=message["ReceiptHandle"]
            )
            moved += 1


def _again(message: dict[str, Any]) -> dict[str, Any]:
    """SendMessage's arguments that queue a received message as it was."""
    attributes = message.get("Attributes") or {}
    deduplication = attributes.get("MessageDeduplicationId") or message["MessageId"]
    again: dict[str, Any] = {
        "MessageBody": message["Body"],
        "MessageGroupId": attributes["MessageGroupId"],
        "MessageDeduplicationId": f"{deduplication[:80]}.redrive.{time.time_ns()}",
    }
    if message.get("MessageAttributes"):
        again["MessageAttributes"] = {
            name: {k: v for k, v in value.items() if k in _MESSAGE_ATTRIBUTE_FIELDS}
            for name, value in message["MessageAttributes"].items()
        }
    if "AWSTraceHeader" in attributes:
        again["MessageSystemAttributes"] = {
            "AWSTraceHeader": {"DataType": "String", "StringValue": attributes["AWSTraceHeader"]}
        }
    return again


def main(argv: list[str] | None = None) -> int:
    import boto3

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--stack", required=True, help="the deployed stack's name")
    parser.add_argument("--region", help="its region (default: AWS's)")
    args = parser.parse_args(argv)
    queues = stack_queues(boto3.client("cloudformation", region_name=args.region), args.stack)
    moved = redrive(boto3.client("sqs", region_name=args.region), queues)
    print(f"moved {moved} bot command(s) from the dead-letter queue back to {queues.queue_url}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
