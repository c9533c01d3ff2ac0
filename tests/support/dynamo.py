"""Counting the DynamoDB operations a request makes (a botocore hook on the real client)."""

from __future__ import annotations

from collections import Counter
from contextlib import contextmanager

from chat import aws


@contextmanager
def count_dynamodb_calls():
    calls: Counter[str] = Counter()

    def record(model, **_):
        calls[model.name] += 1

    events = aws.dynamodb_resource().meta.client.meta.events
    events.register("before-call.dynamodb", record)
    try:
        yield calls
    finally:
        events.unregister("before-call.dynamodb", record)
