"""boto3 clients, created once per container on first use; tests may inject their own.

Only the data-access (chat.dal) and adapter modules use these.
"""

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
_clients: dict[str, Any] = {}


def _factories() -> dict[str, Callable[[], Any]]:
    retrying = Config(retries={"mode": "standard", "max_attempts": 3})
    return {
        "dynamodb": lambda: boto3.resource("dynamodb", config=retrying),
        "sqs": lambda: boto3.client("sqs", config=retrying),
        "kms": lambda: boto3.client("kms", config=retrying),
        # SigV4 for presigned URLs (the default for presigned POST is still SigV2).
        "s3": lambda: boto3.client("s3", config=retrying.merge(Config(signature_version="s3v4"))),
        "apigatewaymanagementapi": lambda: boto3.client(
            "apigatewaymanagementapi",
            endpoint_url=settings().websocket_management_url,
            config=Config(
                max_pool_connections=PUSH_POOL_SIZE,
                retries={"mode": "standard", "max_attempts": 2},
                connect_timeout=2,
                read_timeout=5,
            ),
        ),
    }


def client(name: str) -> Any:
    """The container's client (or resource, for dynamodb) for a service."""
    found = _clients.get(name)
    if found is None:
        with _lock:
            found = _clients.get(name)
            if found is None:
                found = _clients[name] = _factories()[name]()
    return found


def inject(name: str, value: Any) -> None:
    """Use `value` as the client for `name` (tests)."""
    _clients[name] = value


def reset() -> None:
    """Forget every client (tests, after changing the environment)."""
    _clients.clear()
