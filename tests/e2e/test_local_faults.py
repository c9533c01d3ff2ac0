"""The local stack's faults over real sockets, each in the failing service's own wire format,
read by the clients the functions use: DynamoDB's errors in front of moto (local.aws_server),
parsed by botocore and retried by its standard mode; the management API's 429/500/410
(local.websocket_api), a 410 dropping the socket; Gemini's errors and broken streams
(local.fake_gemini) through the google-genai SDK.

Every service decides call n's fault from (seed, service, n) alone, so a test that makes
its calls one at a time knows each call's fault in advance: a copy of the same plan says."""

from __future__ import annotations

import asyncio
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import boto3
import pytest
from aiohttp import web
from botocore.config import Config
from botocore.exceptions import ClientError
from google import genai
from google.genai import errors as genai_errors
from google.genai import types
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

from local.fake_gemini import start as start_fake_gemini
from local.faults import FaultPlan, Faults
from local.model import WebSocketApiSpec
from local.websocket_api import WebSocketApi
from tests.e2e.conftest import ROOT

REGION = "us-east-1"
NO_RETRIES = Config(retries={"mode": "standard", "total_max_attempts": 1})


def _predicted(spec: str, seed: int, service: str) -> Faults:
    faults = FaultPlan.parse(spec, seed).faults(service)
    assert faults is not None
    return faults


def _client(service: str, endpoint: str, config: Config = NO_RETRIES) -> Any:
    return boto3.client(
        service,
        endpoint_url=endpoint,
        region_name=REGION,
        aws_access_key_id="local",
        aws_secret_access_key="local",
        config=config,
    )


# ---------------------------------------------------------------------- DynamoDB
@contextmanager
def aws_server(spec: str, seed: int) -> Iterator[str]:
    server = subprocess.Popen(  # noqa: S603 - our own module
        [
            *(sys.executable, "-m", "local.aws_server", "--port", "0", "--s3-port", "0"),
            *("--faults", spec, "--fault-seed", str(seed)),
        ],
        cwd=ROOT,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert server.stdout is not None and server.stdin is not None
    try:
        _, port, _ = server.stdout.readline().decode().split()
        yield f"http://127.0.0.1:{port}"
    finally:
        server.stdin.close()
        server.wait(10)


def _create_table(dynamodb: Any) -> None:
    dynamodb.create_table(
        TableName="messages",
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )


def _write(dynamodb: Any, index: int) -> tuple[str, set[str], int]:
    """A put or a transaction of two puts, conditional like our message writes: the
    operation, the keys written and how many attempts botocore made."""
    if index % 2:
        response = dynamodb.put_item(
            TableName="messages",
            Item={"pk": {"S": f"put-{index}"}},
            ConditionExpression="attribute_not_exists(pk)",
        )
        return "PutItem", {f"put-{index}"}, response["ResponseMetadata"]["RetryAttempts"] + 1
    keys = [f"tx-{index}-a", f"tx-{index}-b"]
    response = dynamodb.transact_write_items(
        TransactItems=[
            {
                "Put": {
                    "TableName": "messages",
                    "Item": {"pk": {"S": key}},
                    "ConditionExpression": "attribute_not_exists(pk)",
                }
            }
            for key in keys
        ]
    )
    return "TransactWriteItems", set(keys), response["ResponseMetadata"]["RetryAttempts"] + 1


def _stored(endpoint: str) -> set[str]:
    """Every key (a Scan is faulted too: asked again at once until it is answered)."""
    dynamodb = _client("dynamodb", endpoint)
    for _ in range(100):
        try:
            items = dynamodb.scan(TableName="messages")["Items"]
        except ClientError:
            continue
        return {item["pk"]["S"] for item in items}
    raise AssertionError("no Scan answered")


THROTTLES = {
    "ProvisionedThroughputExceededException": "KeyRangeThroughputExceeded",
    "ThrottlingException": "MaxOnDemandThroughputExceeded",
}


def _check_throttle(error: dict[str, Any], operation: str) -> str:
    code = error["Error"]["Code"]
    assert error["ResponseMetadata"]["HTTPStatusCode"] == 400
    if code == "TransactionCanceledException":
        assert operation == "TransactWriteItems"
        reasons = [reason["Code"] for reason in error["CancellationReasons"]]
        assert sorted(reasons) == ["None", "ThrottlingError"]
        return code
    # botocore's names: ThrottlingException's member is spelt throttlingReasons
    [reason] = error.get("ThrottlingReasons") or error["throttlingReasons"]
    assert reason["reason"] == f"TableWrite{THROTTLES[code]}"
    assert reason["resource"] == "arn:aws:dynamodb:us-east-1:123456789012:table/messages"
    return code


def test_dynamodb_faults_are_dynamodbs_errors_as_botocore_reads_them() -> None:
    spec, seed = "dynamodb=0.6", 11
    predicted = _predicted(spec, seed, "dynamodb")
    with aws_server(spec, seed) as endpoint:
        dynamodb = _client("dynamodb", endpoint)
        _create_table(dynamodb)  # control plane: never faulted
        expected: set[str] = set()
        seen: dict[str, set[str]] = {"throttle": set(), "error": set(), "lost": set()}
        for index in range(80):
            fault = predicted.next()
            try:
                operation, keys, _ = _write(dynamodb, index)
            except ClientError as exc:
                assert fault is not None, f"call {index} failed unasked: {exc}"
                operation = exc.operation_name
                if fault.kind == "throttle":
                    seen["throttle"].add(_check_throttle(exc.response, operation))
                else:  # error, lost: DynamoDB's 500, which botocore's standard mode retries
                    assert exc.response["Error"]["Code"] == "InternalServerError"
                    assert exc.response["ResponseMetadata"]["HTTPStatusCode"] == 500
                    seen[fault.kind].add(operation)
                    if fault.kind == "lost":  # applied all the same
                        expected |= (
                            {f"put-{index}"} if index % 2 else {f"tx-{index}-a", f"tx-{index}-b"}
                        )
                continue
            assert fault is None, f"call {index} should have failed with {fault}"
            expected |= keys
        assert _stored(endpoint) == expected
    assert seen == {
        "throttle": {
            "ProvisionedThroughputExceededException",
            "ThrottlingException",
            "TransactionCanceledException",
        },
        "error": {"PutItem", "TransactWriteItems"},
        "lost": {"PutItem", "TransactWriteItems"},
    }


def _keys(index: int) -> set[str]:
    return {f"put-{index}"} if index % 2 else {f"tx-{index}-a", f"tx-{index}-b"}


def test_what_botocores_standard_mode_retries_of_dynamodbs_faults() -> None:
    """As the functions' clients are configured (standard mode, `max_attempts: 3`, which
    botocore counts as retries: 4 attempts): throttles and 500s are retried, a transaction
    whose answer was lost runs again as a no-op (its token), a conditional put whose answer
    was lost fails its own condition on the retry, and a transaction cancelled by a
    throttle is not retried at all."""
    # A seed whose first eight writes meet every case (botocore's backoff makes it slow).
    spec, seed = "dynamodb.throttle=0.25,dynamodb.error=0.1,dynamodb.lost=0.15", 2343
    predicted = _predicted(spec, seed, "dynamodb")
    outcomes: dict[str, set[str]] = {}
    with aws_server(spec, seed) as endpoint:
        config = Config(retries={"mode": "standard", "max_attempts": 3})
        dynamodb = _client("dynamodb", endpoint, config)
        _create_table(dynamodb)
        stored: set[str] = set()
        for index in range(8):
            try:
                operation, keys, attempts = _write(dynamodb, index)
            except ClientError as exc:
                # Every attempt botocore made was one of the server's calls, each a fault.
                attempts = exc.response["ResponseMetadata"]["RetryAttempts"] + 1
                faults = [predicted.next() for _ in range(attempts)]
                assert all(faults[:-1]), faults
                last = faults[-1]
                code = exc.response["Error"]["Code"]
                if code == "TransactionCanceledException":  # throttled: not retried
                    assert "ThrottlingError" in str(exc.response["CancellationReasons"])
                    assert last is not None and last.kind == "throttle"
                elif code == "ConditionalCheckFailedException":  # found its own write
                    assert last is None and any(f and f.kind == "lost" for f in faults)
                    stored |= _keys(index)
                else:
                    assert last is not None and attempts == 4, "gave up before its last attempt"
                outcomes.setdefault(code, set()).add(f"{exc.operation_name} after {attempts}")
                continue
            faults = [predicted.next() for _ in range(attempts)]
            assert faults[-1] is None and all(faults[:-1]), faults
            outcomes.setdefault("ok", set()).update(
                f"{operation} retried {f.kind}" for f in faults if f is not None
            )
            stored |= keys
        assert _stored(endpoint) == stored  # nothing stored twice, nothing acknowledged lost
    assert {
        "PutItem retried throttle",
        "PutItem retried error",
        "TransactWriteItems retried throttle",
        "TransactWriteItems retried error",
        "TransactWriteItems retried lost",
    } <= outcomes["ok"]
    assert "TransactionCanceledException" in outcomes
    assert "ConditionalCheckFailedException" in outcomes


# ---------------------------------------------------------------------- management API
@contextmanager
def management_api(faults: Faults) -> Iterator[tuple[str, WebSocketApi]]:
    """The local WebSocket API (no routes) with its management API, on a loopback port."""

    async def never(*_: Any, **__: Any) -> Any:
        raise AssertionError("no route to invoke")

    api = WebSocketApi(
        WebSocketApiSpec("api", "v1", "$request.body.type", {}), never, faults=faults
    )
    loop = asyncio.new_event_loop()
    runner = web.AppRunner(api.app(), handle_signals=False)
    sock = socket.create_server(("127.0.0.1", 0))
    loop.run_until_complete(runner.setup())
    loop.run_until_complete(web.SockSite(runner, sock).start())
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}", api
    finally:
        asyncio.run_coroutine_threadsafe(runner.cleanup(), loop).result(10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        loop.close()


def _open(base: str, api: WebSocketApi) -> tuple[Any, str]:
    known = set(api.connections)
    ws = connect(base.replace("http", "ws"), open_timeout=20, legacy=True)
    for _ in range(200):
        new = set(api.connections) - known
        if new:
            return ws, new.pop()
        threading.Event().wait(0.05)
    raise AssertionError("the connection was not registered")


def test_management_api_faults_are_api_gateways_errors_and_a_410_drops_the_socket() -> None:
    spec, seed = "management_api=0.5", 2
    predicted = _predicted(spec, seed, "management_api")
    with management_api(_predicted(spec, seed, "management_api")) as (base, api):
        client = _client("apigatewaymanagementapi", base)
        ws, connection_id = _open(base, api)
        kinds: set[str] = set()
        for index in range(60):
            fault = predicted.next()
            data = f"frame {index}".encode()
            if fault is None:
                client.post_to_connection(ConnectionId=connection_id, Data=data)
                assert ws.recv(timeout=20) == data.decode()
                continue
            kinds.add(fault.kind)
            if fault.kind == "gone":
                with pytest.raises(client.exceptions.GoneException):
                    client.post_to_connection(ConnectionId=connection_id, Data=data)
                with pytest.raises(ConnectionClosed) as closed:
                    ws.recv(timeout=20)
                assert closed.value.rcvd is None  # dropped: no close frame, as a lost network
                ws, connection_id = _open(base, api)
                continue
            with pytest.raises(ClientError) as caught:
                client.post_to_connection(ConnectionId=connection_id, Data=data)
            status, code = (
                (429, "LimitExceededException")
                if fault.kind == "throttle"
                else (500, "InternalServerErrorException")
            )
            assert caught.value.response["Error"]["Code"] == code
            assert caught.value.response["ResponseMetadata"]["HTTPStatusCode"] == status
            if fault.kind == "throttle":
                assert isinstance(caught.value, client.exceptions.LimitExceededException)
        ws.close()
    assert kinds == {"throttle", "error", "gone"}


# ---------------------------------------------------------------------- Gemini
def test_gemini_faults_are_geminis_errors_and_broken_streams_through_the_sdk() -> None:
    spec, seed = "gemini=0.6", 9
    predicted = _predicted(spec, seed, "gemini")
    fake = start_fake_gemini(faults=_predicted(spec, seed, "gemini"))
    client = genai.Client(
        api_key="fake-key",
        http_options=types.HttpOptions(
            base_url=fake.base_url, retry_options=types.HttpRetryOptions(attempts=1)
        ),
    )
    kinds: set[str] = set()
    try:
        for _ in range(40):
            fault = predicted.next()
            chunks: list[str] = []
            try:
                for chunk in client.models.generate_content_stream(
                    model="gemini-2.5-flash", contents="say something long enough"
                ):
                    chunks.append(chunk.text or "")
            except genai_errors.APIError as exc:
                assert fault is not None and fault.kind in ("429", "500", "503")
                assert exc.code == int(fault.kind)
                if fault.kind == "429":
                    assert exc.status == "RESOURCE_EXHAUSTED"
                    [retry] = [d for d in exc.details["error"]["details"] if "retryDelay" in d]
                    assert 1 <= int(retry["retryDelay"].rstrip("s")) <= 20
                kinds.add(fault.kind)
                continue
            except Exception:  # the transport's error: the stream broke off
                assert fault is not None and fault.kind == "cut"
                assert chunks, "a cut stream sends at least one event first"
                kinds.add("cut")
                continue
            assert fault is None, f"{fault} did not happen"
            assert "local stand-in" in "".join(chunks)
    finally:
        client.close()
        fake.stop()
    assert kinds == {"429", "500", "503", "cut"}
