"""Run the notifier on what the notifications queue holds, as Lambda's SQS event source
would: batches of up to 10 jobs, succeeded records deleted, failed ones left for SQS."""

from __future__ import annotations

from typing import Any

import boto3
from aws_lambda_powertools.utilities.batch.exceptions import BatchProcessingError

from tests.support.clients import handler_of
from tests.support.events import LambdaContext, sqs_event


def queued_jobs(queue_url: str) -> list[dict[str, Any]]:
    """Every job visible in the queue now (received: invisible until deleted or released)."""
    sqs = boto3.client("sqs")
    found: list[dict[str, Any]] = []
    while True:
        batch = sqs.receive_message(
            QueueUrl=queue_url, MaxNumberOfMessages=10, AttributeNames=["All"]
        ).get("Messages", [])
        if not batch:
            return found
        found += batch


def run_notifier(queue_url: str) -> list[str]:
    """Deliver every visible job to the notifier, 10 at a time; the failed records' ids
    (released at once for a next run)."""
    sqs = boto3.client("sqs")
    arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    jobs = queued_jobs(queue_url)
    failed: list[str] = []
    for start in range(0, len(jobs), 10):
        records = jobs[start : start + 10]
        try:
            response = handler_of("NotifierFunction")(
                sqs_event(records, arn), LambdaContext("NotifierFunction", 30_000)
            )
            failed += [item["itemIdentifier"] for item in response["batchItemFailures"]]
        except BatchProcessingError:  # Powertools raises when every record failed
            failed += [record["MessageId"] for record in records]
        for record in records:
            if record["MessageId"] in failed:
                sqs.change_message_visibility(
                    QueueUrl=queue_url, ReceiptHandle=record["ReceiptHandle"], VisibilityTimeout=0
                )
            else:
                sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=record["ReceiptHandle"])
    return failed
