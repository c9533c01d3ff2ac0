"""Data access: the only modules that know the tables' keys and talk to DynamoDB.

Every function here makes a small, fixed number of DynamoDB calls (no Scan anywhere).
"""

from __future__ import annotations

import time
from typing import Any

from botocore.exceptions import ClientError

from chat import aws
from chat.config import settings


def table(name: str) -> Any:
    """The boto3 Table for a logical table name (`users`, `rooms`, ...)."""
    return aws.client("dynamodb").Table(getattr(settings(), f"{name}_table"))


def table_name(name: str) -> str:
    return getattr(settings(), f"{name}_table")


def transact(items: list[dict[str, Any]], attempts: int = 3) -> list[str] | None:
    """Run a write transaction. None on success, else each item's cancellation code.

    Transactions cancelled only by a concurrent transaction are retried: the retry then
    sees what the other one wrote and fails its condition, or succeeds.
    """
    client = aws.client("dynamodb").meta.client
    for attempt in range(attempts):
        try:
            client.transact_write_items(TransactItems=items)
            return None
        except client.exceptions.TransactionCanceledException as exc:
            codes = [
                reason.get("Code", "None") for reason in exc.response.get("CancellationReasons", [])
            ]
            if "ConditionalCheckFailed" in codes or attempt == attempts - 1:
                return codes
            time.sleep(0.02 * (attempt + 1))
    return None  # pragma: no cover - the loop always returns


def query_all(table_name_: str, **kwargs: Any) -> list[dict[str, Any]]:
    """Every item of one Query, following its pages (a page is at most 1 MB)."""
    items: list[dict[str, Any]] = []
    while True:
        response = table(table_name_).query(**kwargs)
        items += response["Items"]
        if "LastEvaluatedKey" not in response:
            return items
        kwargs["ExclusiveStartKey"] = response["LastEvaluatedKey"]


def is_condition_failure(exc: ClientError) -> bool:
    return exc.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException"


def strip_none(item: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in item.items() if value is not None}
