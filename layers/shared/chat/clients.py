"""boto3 clients and resources, created once per container on first use; tests may inject
their own. Only the data-access (chat.dal) and adapter (chat.adapters) modules use these."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import boto3
from botocore.config import Config

from chat.config import settings

# Fan-out pushes run in a thread pool; the HTTP connection pool must be at least as big.
PUSH_POOL_SIZE = 32

_lock = threading.Lock()
_made: dict[str, Any] = {}


def _retrying() -> Config:
    return Config(retries={"mode": "standard", "max_attempts": 3})


def _management_api() -> Any:
    return boto3.client(
        "apigatewaymanagementapi",
        endpoint_url=settings().websocket_management_url,
        config=Config(
            max_pool_connections=PUSH_POOL_SIZE,
            retries={"mode": "standard", "max_attempts": 2},
            connect_timeout=2,
            read_timeout=5,
        ),
    )


_FACTORIES: dict[str, Callable[[], Any]] = {
    "dynamodb": lambda: boto3.resource("dynamodb", config=_retrying()),
    "sqs": lambda: boto3.client("sqs", config=_retrying()),
    "kms": lambda: boto3.client("kms", config=_retrying()),
    # SigV4 for presigned URLs (the default for presigned POST is still SigV2).
    "s3": lambda: boto3.client("s3", config=_retrying().merge(Config(signature_version="s3v4"))),
    "apigatewaymanagementapi": _management_api,
}


def _once(name: str) -> Any:
    found = _made.get(name)
    if found is None:
        with _lock:
            found = _made.get(name)
            if found is None:
                found = _made[name] = _FACTORIES[name]()
    return found


def dynamodb_resource() -> Any:
    """The DynamoDB *resource* (tables); its low-level client is `.meta.client`."""
    return _once("dynamodb")


def sqs() -> Any:
    return _once("sqs")


def kms() -> Any:
    return _once("kms")


def s3() -> Any:
    """The attachments bucket's client (chat.adapters.storage)."""
    return _once("s3")


def management_api() -> Any:
    """The WebSocket API's management client (post_to_connection)."""
    return _once("apigatewaymanagementapi")


def inject(name: str, value: Any) -> None:
    """Use `value` for `name` ("dynamodb", "sqs", "kms", "s3", "apigatewaymanagementapi"): tests."""
    if name not in _FACTORIES:
        raise KeyError(name)
    _made[name] = value


def reset() -> None:
    """Forget every client (tests, after changing the environment)."""
    _made.clear()
