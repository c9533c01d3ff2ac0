"""boto3 clients and resources, created once per container on first use; tests may inject
their own. Only the data-access (chat.dal) and adapter (chat.adapters) modules use these.
The thread pools that run calls in parallel are made here too, once per container."""

from __future__ import annotations

import json
import random
import socket
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, cast
from urllib.parse import quote

import boto3
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.config import Config
from botocore.exceptions import ClientError, HTTPClientError
from botocore.httpsession import URLLib3Session

from chat.config import settings

# Fan-out pushes run in a thread pool; the HTTP connection pool must be at least as big.
PUSH_POOL_SIZE = 32

_lock = threading.Lock()
_made: dict[str, Any] = {}
_pools: dict[str, ThreadPoolExecutor] = {}  # kept by reset(): they hold no client


def _retrying() -> Config:
    return Config(retries={"mode": "standard", "max_attempts": 3})


def backoff(attempt: int, base: float, cap: float) -> float:
    """Seconds to wait before retry number `attempt` (1, 2 …): "full jitter", a random share
    of an exponentially growing ceiling (`base`, doubled each retry, at most `cap`), so that
    callers failed by the same throttle do not all come back at once."""
    return random.uniform(0.0, min(cap, base * 2 ** (attempt - 1)))  # noqa: S311


class ManagementApi:
    """The WebSocket management API (`post_to_connection`, `delete_connection`, as boto3's
    client names them) as SigV4-signed requests on one pooled HTTP session.

    A push is the hot path's most repeated call, and botocore's client spends most of its
    CPU per call on what a push does not need (parameter validation, the event hooks,
    serialising and parsing through the service model, the user agent). This keeps what it
    does need: botocore's signer and HTTP session, the client's timeouts and pool size,
    retries, and the client's error (ClientError with the error code and HTTP status), so
    callers treat both alike. `http` is the HTTP session (`send(prepared request) ->
    AWSResponse`), replaceable by tests.

    Retries: a throttle (429 `LimitExceededException`), a 5xx or a failed connection is tried
    again, up to `attempts` in all, after a full-jitter backoff (`RETRY_BASE` doubling, at
    most `RETRY_CAP`); botocore's client would retry them too, and we bypass it. A 410 (the
    connection is gone) or 403 is never retried: it is an answer, not a fault.
    """

    RETRY_BASE = 0.05
    RETRY_CAP = 1.0

    def __init__(self, endpoint_url: str, region: str, credentials: Any, http: Any = None):
        self.endpoint_url = endpoint_url.rstrip("/")
        self.region = region
        self.credentials = credentials
        self.http = http or URLLib3Session(
            max_pool_connections=PUSH_POOL_SIZE,
            timeout=(2, 5),  # type: ignore[arg-type]  # (connect, read), as urllib3 takes it
            # What botocore's clients set: without it, a request's body waits for the ACK
            # of its headers (Nagle's algorithm against delayed ACKs: 40 ms a push).
            socket_options=[(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)],  # type: ignore[list-item]
        )
        self.attempts = 4

    def post_to_connection(self, *, ConnectionId: str, Data: bytes) -> None:
        self._call("POST", "PostToConnection", ConnectionId, Data)

    def delete_connection(self, *, ConnectionId: str) -> None:
        self._call("DELETE", "DeleteConnection", ConnectionId, b"")

    def _call(self, method: str, operation: str, connection_id: str, data: bytes) -> None:
        url = f"{self.endpoint_url}/@connections/{quote(connection_id, safe='')}"
        for attempt in range(1, self.attempts + 1):
            if attempt > 1:
                time.sleep(backoff(attempt - 1, self.RETRY_BASE, self.RETRY_CAP))
            request = AWSRequest(method=method, url=url, data=data)
            SigV4Auth(
                self.credentials.get_frozen_credentials(), "execute-api", self.region
            ).add_auth(request)
            try:
                response = self.http.send(request.prepare())
            except HTTPClientError:
                if attempt == self.attempts:
                    raise
                continue
            status = response.status_code
            if status < 300:
                return
            if (status >= 500 or status == 429) and attempt < self.attempts:
                continue
            raise ClientError(cast(Any, _error_response(response)), operation)

    @classmethod
    def from_settings(cls) -> ManagementApi:
        session = boto3.Session()
        return cls(
            settings().websocket_management_url, session.region_name, session.get_credentials()
        )


def _error_response(response: Any) -> dict[str, Any]:
    """The error as botocore's client reports it: code (x-amzn-ErrorType), message, status."""
    status = response.status_code
    code = (response.headers.get("x-amzn-ErrorType") or "").split(":", 1)[0]
    try:
        message = (json.loads(response.content or b"{}") or {}).get("message") or ""
    except (ValueError, AttributeError):
        message = ""
    fallback = {403: "ForbiddenException", 410: "GoneException", 429: "LimitExceededException"}
    return {
        "Error": {"Code": code or fallback.get(status, str(status)), "Message": message},
        "ResponseMetadata": {"HTTPStatusCode": status},
    }


_FACTORIES: dict[str, Callable[[], Any]] = {
    "dynamodb": lambda: boto3.resource("dynamodb", config=_retrying()),
    "sqs": lambda: boto3.client("sqs", config=_retrying()),
    "kms": lambda: boto3.client("kms", config=_retrying()),
    # SigV4 for presigned URLs (the default for presigned POST is still SigV2).
    "s3": lambda: boto3.client("s3", config=_retrying().merge(Config(signature_version="s3v4"))),
    "apigatewaymanagementapi": ManagementApi.from_settings,
}


def _lazily(made: dict[str, Any], name: str, make: Callable[[], Any]) -> Any:
    found = made.get(name)
    if found is None:
        with _lock:
            found = made.get(name)
            if found is None:
                found = made[name] = make()
    return found


def _once(name: str) -> Any:
    return _lazily(_made, name, _FACTORIES[name])


def thread_pool(name: str, size: int) -> ThreadPoolExecutor:
    """The container's pool `name` of at most `size` threads (named after it), made on first
    use; its threads start as work comes. `size` must not exceed the connection pool of the
    client the pool's tasks call."""
    return _lazily(
        _pools, name, lambda: ThreadPoolExecutor(max_workers=size, thread_name_prefix=name)
    )


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
    """The WebSocket API's management client (post_to_connection, delete_connection)."""
    return _once("apigatewaymanagementapi")


def inject(name: str, value: Any) -> None:
    """Use `value` for `name` ("dynamodb", "sqs", "kms", "s3", "apigatewaymanagementapi"): tests."""
    if name not in _FACTORIES:
        raise KeyError(name)
    _made[name] = value


def reset() -> None:
    """Forget every client (tests, after changing the environment)."""
    _made.clear()
