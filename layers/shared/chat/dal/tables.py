"""What the table modules share: the tables by logical name, conditional updates,
transactions, paged queries, update expressions."""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any, NamedTuple, cast

from botocore.exceptions import ClientError

from chat import aws
from chat.config import Table, settings

_tables: dict[str, tuple[Any, Any]] = {}  # logical name -> (resource, its Table)


def table(name: Table) -> Any:
    """The boto3 Table of a logical table (`users`, `rooms`, ...), made once per resource:
    building a Table costs more CPU than the call made with it."""
    resource, physical = aws.dynamodb_resource(), settings().table_name(name)
    made = _tables.get(name)
    if made is None or made[0] is not resource or made[1].name != physical:
        made = _tables[name] = (resource, resource.Table(physical))
    return made[1]


def table_name(name: Table) -> str:
    return settings().table_name(name)


def transact(items: list[dict[str, Any]], attempts: int = 3) -> list[str] | None:
    """Run a write transaction. None on success, else each item's cancellation code.

    Transactions cancelled only by a concurrent transaction are retried: the retry then
    sees what the other one wrote and fails its condition, or succeeds.
    """
    client = aws.dynamodb_resource().meta.client
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


def query_all(name: Table, **kwargs: Any) -> list[dict[str, Any]]:
    """Every item of one Query, following its pages (a page is at most 1 MB)."""
    items: list[dict[str, Any]] = []
    while True:
        response = table(name).query(**kwargs)
        items += response["Items"]
        if "LastEvaluatedKey" not in response:
            return items
        kwargs["ExclusiveStartKey"] = response["LastEvaluatedKey"]


def update_expression(
    set_fields: dict[str, Any], remove_fields: Sequence[str] = ()
) -> dict[str, Any]:
    """UpdateItem arguments that set and remove attributes, every name aliased."""
    names = {f"#s{i}": name for i, name in enumerate(set_fields)}
    names.update({f"#r{i}": name for i, name in enumerate(remove_fields)})
    clauses = []
    if set_fields:
        clauses.append("SET " + ", ".join(f"#s{i} = :s{i}" for i in range(len(set_fields))))
    if remove_fields:
        clauses.append("REMOVE " + ", ".join(f"#r{i}" for i in range(len(remove_fields))))
    kwargs: dict[str, Any] = {
        "UpdateExpression": " ".join(clauses),
        "ExpressionAttributeNames": names,
    }
    if set_fields:
        kwargs["ExpressionAttributeValues"] = {
            f":s{i}": value for i, value in enumerate(set_fields.values())
        }
    return kwargs


class Update(NamedTuple):
    """What became of a conditional UpdateItem."""

    written: bool  # False: the condition failed and nothing was written
    # Written: the `Attributes` that ReturnValues asked for. Not written: the item as it
    # was, if ReturnValuesOnConditionCheckFailure="ALL_OLD" asked for it. Else None.
    item: dict[str, Any] | None


def update_if(name: Table, **kwargs: Any) -> Update:
    """One UpdateItem on a logical table under its ConditionExpression; a failed condition
    is an outcome (`written` False), any other error is raised."""
    try:
        response = table(name).update_item(**kwargs)
    except ClientError as exc:
        if not is_condition_failure(exc):
            raise
        old = cast(dict[str, Any] | None, exc.response.get("Item"))
        if old is None:
            return Update(False, None)
        # The resource does not convert it: the old item is in DynamoDB's wire format.
        from boto3.dynamodb.types import TypeDeserializer  # rare path: not at import

        deserialize = TypeDeserializer().deserialize
        return Update(False, {key: deserialize(value) for key, value in old.items()})
    return Update(True, response.get("Attributes"))


def is_condition_failure(exc: ClientError) -> bool:
    return exc.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException"


def strip_none(item: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in item.items() if value is not None}
