"""The functions' IAM policies (template.yaml as SAM translates it), enforced on every
DynamoDB call a handler makes in the integration tests.

`handler_of`/`container_of` (tests.support.clients) run each handler `acting_as` its
function. A botocore hook sees each DynamoDB call before it is sent, works out the IAM
actions and table ARNs it needs (a transaction needs the action of each of its items, a
Query on an index the index's ARN) and refuses it, as AWS would, when the function's role
does not allow one of them. Refusals are also kept, so a test that swallowed the error
still fails with what was missing (`tests/integration/conftest.py`).

Tables are named after their logical ids in the tests (tests/conftest.py); the policies are
resolved with the same names. Calls made outside a handler (test set-up) are not checked.
"""

from __future__ import annotations

import contextlib
import contextvars
import fnmatch
import threading
from collections import Counter
from collections.abc import Callable, Iterator
from functools import cache
from typing import Any

import botocore.handlers
from botocore.exceptions import ClientError

from local.events import ACCOUNT_ID
from local.symbols import Physical
from local.template import resources_of_type
from tests.support.cloudformation import REGION, resolver
from tests.support.sam import translated

_acting: contextvars.ContextVar[str | None] = contextvars.ContextVar("acting", default=None)
_running: Counter[str] = Counter()
_lock = threading.Lock()
refusals: list[str] = []

_TRANSACT_ACTIONS = {
    "Put": "PutItem",
    "Update": "UpdateItem",
    "Delete": "DeleteItem",
    "ConditionCheck": "ConditionCheckItem",
}


def table_arn(name: str) -> str:
    return f"arn:aws:dynamodb:{REGION}:{ACCOUNT_ID}:table/{name}"


# ------------------------------------------------------------------------------ who is calling
@contextlib.contextmanager
def acting_as(function: str) -> Iterator[None]:
    token = _acting.set(function)
    with _lock:
        _running[function] += 1
    try:
        yield
    finally:
        with _lock:
            _running[function] -= 1
        _acting.reset(token)


def with_role(function: str, handler: Callable[..., Any]) -> Callable[..., Any]:
    """The handler, run as `function` (whose policies then apply to its DynamoDB calls)."""

    def run(event: Any, context: Any) -> Any:
        with acting_as(function):
            return handler(event, context)

    return run


def _caller() -> str | None:
    """The function whose handler made this call: this thread's, else (a pool thread of the
    handler's) the one function running, if only one is."""
    function = _acting.get()
    if function is not None:
        return function
    with _lock:
        running = [name for name, count in _running.items() if count > 0]
    return running[0] if len(running) == 1 else None


# ------------------------------------------------------------------------------ what is granted
@cache
def dynamodb_grants() -> dict[str, list[tuple[str, str]]]:
    """function logical id -> (action pattern, resource pattern) of every DynamoDB statement
    its role allows, with the tables' ARNs as the tests name them."""
    template = translated()
    tables = resources_of_type(template, "AWS::DynamoDB::Table")
    resolve = resolver(
        template,
        physical={name: Physical(name, {"Arn": table_arn(name)}) for name in tables},
    )
    grants: dict[str, list[tuple[str, str]]] = {}
    for name, function in resources_of_type(template, "AWS::Lambda::Function").items():
        role_id = function["Properties"]["Role"]["Fn::GetAtt"][0]
        role = resolve.resolve(template["Resources"][role_id]["Properties"])
        found = grants.setdefault(name, [])
        for policy in role.get("Policies") or []:
            for statement in policy["PolicyDocument"]["Statement"]:
                if statement["Effect"] != "Allow":
                    continue
                actions = _as_list(statement["Action"])
                for action in actions:
                    if action.lower().startswith("dynamodb:") or action == "*":
                        found += [
                            (action, resource) for resource in _as_list(statement["Resource"])
                        ]
    return grants


def _as_list(value: Any) -> list[str]:
    return [value] if isinstance(value, str) else list(value)


def allowed(function: str, action: str, resource: str) -> bool:
    return any(
        fnmatch.fnmatchcase(action.lower(), pattern.lower())
        and fnmatch.fnmatchcase(resource, resource_pattern)
        for pattern, resource_pattern in dynamodb_grants().get(function, [])
    )


# ------------------------------------------------------------------------------ what a call needs
def needed(operation: str, params: dict[str, Any]) -> list[tuple[str, str]]:
    """(IAM action, resource ARN) pairs one DynamoDB call needs."""
    if operation in ("BatchGetItem", "BatchWriteItem"):
        return [(f"dynamodb:{operation}", table_arn(name)) for name in params["RequestItems"]]
    if operation == "TransactWriteItems":
        pairs = []
        for item in params["TransactItems"]:
            ((kind, body),) = item.items()
            pairs.append((f"dynamodb:{_TRANSACT_ACTIONS[kind]}", table_arn(body["TableName"])))
        return pairs
    if operation == "TransactGetItems":
        return [
            ("dynamodb:GetItem", table_arn(item["Get"]["TableName"]))
            for item in params["TransactItems"]
        ]
    resource = table_arn(params["TableName"])
    if params.get("IndexName"):
        resource += f"/index/{params['IndexName']}"
    return [(f"dynamodb:{operation}", resource)]


def _check(params: dict[str, Any], model: Any, **_: Any) -> None:
    function = _caller()
    if function is None:
        return
    for action, resource in needed(model.name, params):
        if not allowed(function, action, resource):
            refusal = f"{function} is not allowed {action} on {resource.split(':', 5)[-1]}"
            refusals.append(refusal)
            raise ClientError(
                {"Error": {"Code": "AccessDeniedException", "Message": refusal}}, model.name
            )


def install() -> None:
    """Check every DynamoDB call of every botocore session created from now on."""
    handler = ("before-parameter-build.dynamodb", _check)
    if handler not in botocore.handlers.BUILTIN_HANDLERS:
        botocore.handlers.BUILTIN_HANDLERS.append(handler)
