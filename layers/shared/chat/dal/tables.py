"""What the table modules share: the tables by logical name, conditional updates,
transactions, paged queries and batch reads, update expressions."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from typing import Any, NamedTuple, TypeVar, cast

from boto3.dynamodb.types import TypeDeserializer
from botocore.exceptions import BotoCoreError, ClientError

from chat import aws
from chat.config import Table, settings

T = TypeVar("T")
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


# Errors DynamoDB answers when it did not (or may not have) done the work, and which a later
# attempt may get past: throttles and 5xx. botocore's standard mode retries them itself; the
# caller sees them only once its attempts are spent.
TRANSIENT_CODES = frozenset(
    {
        "ProvisionedThroughputExceededException",
        "ThrottlingException",
        "RequestLimitExceeded",
        "TransactionInProgressException",
        "InternalServerError",
        "ServiceUnavailable",
    }
)
# A transaction's cancellation reasons that mean "not now" rather than "no": botocore never
# retries a TransactionCanceledException, whatever its reasons.
_TRANSIENT_REASONS = frozenset(
    {"None", "TransactionConflict", "ThrottlingError", "ProvisionedThroughputExceeded"}
)
RETRY_BASE = 0.05  # seconds: the first retry's ceiling, doubled each time (full jitter)
RETRY_CAP = 1.0


def is_transient(exc: Exception) -> bool:
    """A DynamoDB failure worth another attempt: a throttle, a 5xx or a broken connection."""
    if isinstance(exc, ClientError):
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0
        return exc.response.get("Error", {}).get("Code") in TRANSIENT_CODES or status >= 500
    return isinstance(exc, BotoCoreError)


class Cancelled(NamedTuple):
    """Why a transaction was cancelled: each item's reason code, and the item as it was for
    those whose failed condition asked for it (ReturnValuesOnConditionCheckFailure ALL_OLD)."""

    codes: list[str]
    items: list[dict[str, Any] | None]


def transact(items: list[dict[str, Any]], attempts: int = 5) -> list[str] | None:
    """Run a write transaction. None on success, else each item's cancellation code."""
    cancelled = transact_reasons(items, attempts)
    return None if cancelled is None else cancelled.codes


def transact_reasons(items: list[dict[str, Any]], attempts: int = 5) -> Cancelled | None:
    """Run a write transaction: None on success, else why it was cancelled.

    A transaction cancelled only by a throttle or a concurrent transaction is run again,
    after a full-jitter backoff: the retry then sees what the other one wrote and fails its
    condition, or succeeds. So is one whose call failed after botocore's own retries (a
    throttle, a 5xx, a lost connection), with the same ClientRequestToken: if an earlier
    attempt was applied and only its answer lost, DynamoDB answers the repeat as a success
    without applying it again (for 10 minutes). Anything else is raised.
    """
    client = aws.dynamodb_resource().meta.client
    token = uuid.uuid4().hex
    for attempt in range(1, attempts + 1):
        if attempt > 1:
            time.sleep(aws.backoff(attempt - 1, RETRY_BASE, RETRY_CAP))
        try:
            client.transact_write_items(TransactItems=items, ClientRequestToken=token)
            return None
        except client.exceptions.TransactionCanceledException as exc:
            cancelled = _cancelled(exc.response.get("CancellationReasons") or [])
            if not set(cancelled.codes) <= _TRANSIENT_REASONS or attempt == attempts:
                return cancelled
            token = uuid.uuid4().hex  # nothing was applied: the next attempt is a new one
        except (ClientError, BotoCoreError) as exc:
            if not is_transient(exc) or attempt == attempts:
                raise
    raise AssertionError("unreachable")  # pragma: no cover - the last attempt returns


def _cancelled(reasons: list[dict[str, Any]]) -> Cancelled:
    deserialize = TypeDeserializer().deserialize
    return Cancelled(
        [reason.get("Code", "None") for reason in reasons],
        [
            {key: deserialize(value) for key, value in reason["Item"].items()}
            if reason.get("Item")
            else None
            for reason in reasons
        ],
    )


def persistently(call: Callable[[], T], attempts: int = 3) -> T:
    """`call` (one DynamoDB request), tried again after a full-jitter backoff when it fails
    transiently even after botocore's own retries; for the writes that must not be lost to a
    burst of faults (a message's fan-out, an answer's end). The call must be safe to repeat."""
    for attempt in range(1, attempts + 1):
        try:
            return call()
        except (ClientError, BotoCoreError) as exc:
            if not is_transient(exc) or attempt == attempts:
                raise
        time.sleep(aws.backoff(attempt, RETRY_BASE, RETRY_CAP))
    raise AssertionError("unreachable")  # pragma: no cover - the last attempt raises


def query_all(name: Table, **kwargs: Any) -> list[dict[str, Any]]:
    """Every item of one Query, following its pages (a page is at most 1 MB)."""
    items: list[dict[str, Any]] = []
    while True:
        response = table(name).query(**kwargs)
        items += response["Items"]
        if "LastEvaluatedKey" not in response:
            return items
        kwargs["ExclusiveStartKey"] = response["LastEvaluatedKey"]


BATCH_GET_MAX = 100  # keys per BatchGetItem, whatever their tables


def batch_get(name: Table, keys: Sequence[dict[str, Any]], **options: Any) -> list[dict[str, Any]]:
    """The items of these keys that exist: one BatchGetItem per 100 keys, its unprocessed
    keys asked again; `options` (ConsistentRead, ProjectionExpression …) apply to every one."""
    return batch_get_tables({name: (keys, options)})[name]


def batch_get_tables(
    reads: Mapping[Table, tuple[Sequence[dict[str, Any]], Mapping[str, Any]]],
) -> dict[Table, list[dict[str, Any]]]:
    """The items that exist of several tables' keys, read in the same BatchGetItem calls
    (100 keys each, across the tables; unprocessed keys asked again): `reads` maps a table
    to its keys and the options of its reads (ConsistentRead, ProjectionExpression …)."""
    dynamodb = aws.dynamodb_resource()
    physical = {name: table_name(name) for name in reads}
    logical = {table_of: name for name, table_of in physical.items()}
    pending = [(name, key) for name, (keys, _) in reads.items() for key in keys]
    found: dict[Table, list[dict[str, Any]]] = {name: [] for name in reads}
    for start in range(0, len(pending), BATCH_GET_MAX):
        request: dict[str, Any] = {}
        for name, key in pending[start : start + BATCH_GET_MAX]:
            asked = request.setdefault(physical[name], {"Keys": [], **reads[name][1]})
            asked["Keys"].append(key)
        while request:
            response = dynamodb.batch_get_item(RequestItems=request)
            for table_of, items in response["Responses"].items():
                found[logical[table_of]] += items
            request = response.get("UnprocessedKeys") or {}
    return found


def count_query(client: Any, cap: int, **kwargs: Any) -> int:
    """How many items one low-level Query (``Select: COUNT``) matches, counting no further
    than `cap`: its pages are read only until then."""
    count = 0
    while count < cap:
        response = client.query(Limit=cap - count, Select="COUNT", **kwargs)
        count += response["Count"]
        if "LastEvaluatedKey" not in response:
            break
        kwargs["ExclusiveStartKey"] = response["LastEvaluatedKey"]
    return min(count, cap)


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
        deserialize = TypeDeserializer().deserialize
        return Update(False, {key: deserialize(value) for key, value in old.items()})
    return Update(True, response.get("Attributes"))


def is_condition_failure(exc: ClientError) -> bool:
    return exc.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException"


def strip_none(item: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in item.items() if value is not None}
