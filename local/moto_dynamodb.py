"""DynamoDB in the local stack's moto server, at the cost of what a request touches.

Transactions. moto's `transact_write_items` backs up every table a transaction touches with
`copy.deepcopy` before it starts, so each transaction costs time in the size of those
tables: every chat message is a transaction on the messages table, and a local stack under
load slowed down with each message stored. This keeps moto's semantics (operations applied
in order, conditions checked against the state so far, all undone when one fails, the same
errors) but saves and restores only the items the transaction touches, and drops the stream
records of a cancelled transaction (DynamoDB writes none). Transactions also run one at a
time: moto's server is threaded and its backend has no locks.

Queries. moto's Query of a table reads, sorts and filters every item of the table to find
the partition it asked for, then walks the partition from its start, so each Query cost time
in the size of the table and of the partition (the search index's buckets, and the messages
table's history pages, grew slower with every message). DynamoDB reads only what a Query
asks for: from its start key, in its direction, `Limit` items before the filter. Here a Query
of the table's own key (not of an index) is handed just that of its partition: the items that
meet the sort key condition (found by bisection in the partition's sorted keys), after the
start key, `Limit` of them and one more (by which moto knows that the page is not the last);
moto's own code does the rest (its sort and key condition again, the filter, the limit,
pages), so its results are the same, and a Query costs time mostly in what it reads.

Idempotent transactions. DynamoDB runs a TransactWriteItems again with the same
`ClientRequestToken` (botocore fills one in, the same on each of its retries) as a no-op
success for 10 minutes after it succeeded, and refuses the token with other items; moto
ignores the token, so a retry after a lost answer (local.faults' `lost`) would apply the
transaction twice, or fail its conditions, where DynamoDB answers success. This keeps the
tokens.

Responses. moto serialises every response through botocore's shape model, member by
member: for a Query of a room's subscribers that is most of moto's time per call. The items
of DynamoDB's data-plane operations are already in the wire format (attribute values), so
their responses are written with `json.dumps`, keeping only the output shape's top-level
members as moto's serialiser does; anything else, and any error, takes moto's own path.
"""

from __future__ import annotations

import base64
import bisect
import copy
import hashlib
import json
import threading
import time
from functools import cache
from typing import Any

from moto.core.responses import ActionResult
from moto.dynamodb.exceptions import (
    ERROR_TYPE_PREFIX,
    DynamodbException,
    MockValidationException,
    MultipleTransactionsException,
    TooManyTransactionsException,
    TransactionCanceledException,
    TransactWriteSingleOpException,
)
from moto.dynamodb.models import DynamoDBBackend
from moto.dynamodb.models.dynamo_type import DynamoType
from moto.dynamodb.models.table import Table
from moto.dynamodb.responses import DynamoHandler

from local.faults import DYNAMODB_ITEM_OPERATIONS

_lock = threading.Lock()
_original = DynamoDBBackend.transact_write_items
_all_items = Table.all_items
_query = Table.query
_partition = threading.local()  # (table, its items to query) while a Query runs


def _key_of(table: Table, op_type: str, op: dict[str, Any]) -> dict[str, Any]:
    attributes = op["Item"] if op_type == "Put" else op["Key"]
    key = {table.hash_key_attr: attributes[table.hash_key_attr]}
    if table.range_key_attr is not None:
        key[table.range_key_attr] = attributes[table.range_key_attr]
    return key


def _restore(
    backend: DynamoDBBackend, saved: list[tuple[Table, Any, Any, Any]], streams: dict[Any, int]
) -> None:
    for table, hash_key, range_key, item in reversed(saved):
        if item is None:
            table.delete_item(hash_key, range_key)
        elif range_key is not None:
            table.items[hash_key][range_key] = item
        else:
            table.items[hash_key] = item
    # A cancelled transaction writes no stream record (nor does undoing it, above).
    for shard, length in streams.items():
        del shard.items[length:]


def transact_write_items(self: DynamoDBBackend, transact_items: list[dict[str, Any]]) -> None:
    with _lock:
        if len(transact_items) > 100:
            raise TooManyTransactionsException()
        saved: list[tuple[Table, Any, Any, Any]] = []  # (table, hash, range, item before)
        streams: dict[Any, int] = {}  # each touched table's stream shard -> its length before
        # Validate the whole request before changing anything, as moto does (its backup
        # then restores everything on these errors).
        seen: set[tuple[str, str]] = set()
        for item in transact_items:
            if len(item) > 1:
                raise TransactWriteSingleOpException
            op_type, op = next(iter(item.items()))
            table = self.get_table(op["TableName"])
            key = _key_of(table, op_type, op)
            unique = (str(op["TableName"]), str(dict(sorted(key.items()))))
            if unique in seen:
                raise MultipleTransactionsException()
            seen.add(unique)
        # Each touched item saved, then moto's own transaction, minus its table copies.
        for item in transact_items:
            op_type, op = next(iter(item.items()))
            table = self.get_table(op["TableName"])
            hash_key, range_key = self.get_keys_value(table, _key_of(table, op_type, op))
            before = table.get_item(hash_key, range_key)
            saved.append((table, hash_key, range_key, copy.deepcopy(before)))
            if table.stream_shard is not None:
                streams.setdefault(table.stream_shard, len(table.stream_shard.items))
        try:
            with _NoTableCopies():
                _original(self, transact_items)
        except (TransactionCanceledException, MockValidationException):
            _restore(self, saved, streams)
            raise


class _NoTableCopies:
    """moto's transaction deep-copies each table it touches (to restore it on failure);
    while this is active, that copy is skipped: the items are saved above instead, and on
    failure moto's "restore" puts back the very table object (a no-op)."""

    def __enter__(self) -> None:
        import moto.dynamodb.models as models

        self._module = models
        self._copy = models.copy
        models.copy = _ShallowTables()  # type: ignore[assignment]

    def __exit__(self, *exc: object) -> None:
        self._module.copy = self._copy


class _ShallowTables:
    """`copy` for moto's dynamodb backend module: deepcopy of a Table is the table itself."""

    def deepcopy(self, value: Any, memo: Any = None) -> Any:
        if isinstance(value, Table):
            return value
        return copy.deepcopy(value, memo)

    def __getattr__(self, name: str) -> Any:
        return getattr(copy, name)


TOKEN_SECONDS = 600.0  # how long DynamoDB remembers a transaction's ClientRequestToken
_tokens: dict[str, tuple[str, float]] = {}  # token -> (digest of the items, when it succeeded)
_tokens_lock = threading.Lock()
_original_request = DynamoHandler.transact_write_items


class IdempotentParameterMismatchException(DynamodbException):
    def __init__(self) -> None:
        super().__init__(
            ERROR_TYPE_PREFIX + "IdempotentParameterMismatchException",
            message="DynamoDB rejected the request because you retried a request with a "
            "different payload but with an idempotent token that was already used.",
        )


def transact_write_items_request(self: DynamoHandler) -> ActionResult:
    """moto's TransactWriteItems, idempotent by `ClientRequestToken` as DynamoDB's is."""
    token = self.body.get("ClientRequestToken")
    if not token:
        return _original_request(self)
    digest = hashlib.sha256(
        json.dumps(self.body.get("TransactItems"), sort_keys=True, default=repr).encode()
    ).hexdigest()
    with _tokens_lock:  # transactions run one at a time anyway (_lock)
        now = time.monotonic()
        # Tokens are kept in the order they succeeded: the expired ones are the first few.
        while _tokens:
            oldest = next(iter(_tokens))
            if now - _tokens[oldest][1] <= TOKEN_SECONDS:
                break
            del _tokens[oldest]
        seen = _tokens.get(token)
        if seen is not None:
            if seen[0] != digest:
                raise IdempotentParameterMismatchException()
            return ActionResult({"ConsumedCapacity": [], "ItemCollectionMetrics": {}})
        result = _original_request(self)
        _tokens[token] = (digest, now)
        return result


def all_items(self: Table) -> list[Any]:
    only = getattr(_partition, "items", None)
    if only is not None and only[0] is self:
        return list(only[1])
    return _all_items(self)


def _sort_value(value: DynamoType) -> Any:
    """A key's value in DynamoDB's order (moto's `cast_value`, without its type tests for
    the strings that most keys are)."""
    return value.cast_value if value.type == "N" else value.value


def _key_range(keys: list[Any], comparison: str | None, bounds: list[Any]) -> tuple[int, int]:
    """The slice of ascending ``keys`` that meets a Query's sort key condition (always a
    contiguous run of the partition's keys)."""
    low, high = 0, len(keys)
    if comparison in ("EQ", "="):
        low, high = bisect.bisect_left(keys, bounds[0]), bisect.bisect_right(keys, bounds[0])
    elif comparison in ("LT", "<"):
        high = bisect.bisect_left(keys, bounds[0])
    elif comparison in ("LE", "<="):
        high = bisect.bisect_right(keys, bounds[0])
    elif comparison in ("GT", ">"):
        low = bisect.bisect_right(keys, bounds[0])
    elif comparison in ("GE", ">="):
        low = bisect.bisect_left(keys, bounds[0])
    elif comparison == "BETWEEN":
        low, high = bisect.bisect_left(keys, bounds[0]), bisect.bisect_right(keys, bounds[1])
    elif comparison == "BEGINS_WITH":
        low = high = bisect.bisect_left(keys, bounds[0])
        while high < len(keys) and keys[high].startswith(bounds[0]):
            high += 1
    elif comparison is not None:
        raise ValueError(comparison)
    return low, high


def _read_window(
    keys: list[Any], low: int, high: int, limit: int | None, start: Any, forward: bool
) -> tuple[int, int]:
    """Of ``keys[low:high]`` (ascending; those meeting the key condition), what DynamoDB
    reads for the Query: after its start key, in its direction, ``limit`` items and one
    more, by which moto knows that the page ends early (its LastEvaluatedKey)."""
    if start is not None:
        if forward:
            low = max(low, bisect.bisect_right(keys, start, low, high))
        else:
            high = min(high, bisect.bisect_left(keys, start, low, high))
    if limit:
        if forward:
            high = min(high, low + int(limit) + 1)
        else:
            low = max(low, high - int(limit) - 1)
    return low, high


def query(
    self: Table,
    hash_key: Any,
    range_comparison: Any,
    range_objs: Any,
    limit: Any,
    exclusive_start_key: Any,
    scan_index_forward: Any,
    projection_expressions: Any,
    index_name: str | None = None,
    *args: Any,
    **kwargs: Any,
) -> Any:
    """moto's Query, over the partition of `hash_key` only when it queries the table's key,
    and of it only what DynamoDB would read: a Query of 50 items costs about the same in a
    partition of 100 items or of 100,000, as it does on DynamoDB."""
    arguments = (range_comparison, range_objs, limit, exclusive_start_key, scan_index_forward)
    if index_name is None and hash_key is not None and self.range_key_attr is not None:
        partition = self.items.get(hash_key) or {}
        values = [_sort_value(key) for key in partition]
        order = sorted(range(len(values)), key=values.__getitem__)
        keys = [values[i] for i in order]
        bounds = [_sort_value(value) for value in range_objs or ()]
        low, high = _key_range(keys, range_comparison, bounds)
        start = (exclusive_start_key or {}).get(self.range_key_attr)
        low, high = _read_window(
            keys,
            low,
            high,
            limit,
            None if start is None else _sort_value(DynamoType(start)),
            scan_index_forward is not False,
        )
        items = list(partition.values())
        _partition.items = (self, [items[order[i]] for i in range(low, high)])
    try:
        return _query(
            self, hash_key, *arguments, projection_expressions, index_name, *args, **kwargs
        )
    finally:
        _partition.items = None


_serialized = DynamoHandler.serialized


@cache
def _output_members(operation: str) -> frozenset[str]:
    import botocore.session

    model = botocore.session.get_session().get_service_model("dynamodb")
    output = model.operation_model(operation).output_shape
    return frozenset(output.members) if output is not None else frozenset()


def _binary(value: Any) -> str:
    if isinstance(value, bytes):
        return base64.b64encode(value).decode()
    raise TypeError(type(value).__name__)


def serialized(self: DynamoHandler, action_result: ActionResult) -> Any:
    action, result = self._get_action(), action_result.result
    if action in DYNAMODB_ITEM_OPERATIONS and isinstance(result, dict):
        members = _output_members(action)
        try:
            body = json.dumps({k: v for k, v in result.items() if k in members}, default=_binary)
        except TypeError:
            return _serialized(self, action_result)
        headers = {"Content-Type": "application/x-amz-json-1.0", **self.response_headers}
        return 200, headers, body
    return _serialized(self, action_result)


def install() -> None:
    """Use these transactions (idempotent by token), queries and responses in this
    process's moto (the local stack's AWS server; bench/search.py)."""
    DynamoDBBackend.transact_write_items = transact_write_items  # type: ignore[method-assign]
    DynamoHandler.transact_write_items = transact_write_items_request  # type: ignore[method-assign]
    Table.all_items = all_items  # type: ignore[method-assign]
    Table.query = query  # type: ignore[method-assign]
    DynamoHandler.serialized = serialized  # type: ignore[method-assign]
