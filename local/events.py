"""What Lambda hands a function, built in one place for the local stack and the tests.

- `LambdaContext`: the `context` argument (the Python runtime's attributes and method).
- REST (API Gateway REST, Lambda proxy): `RestRoutes` picks the resource of a path as API
  Gateway does, `rest_event` builds the proxy event.
- WebSocket (API Gateway v2): `select_route` applies the RouteSelectionExpression,
  `ws_authorizer_event` / `ws_connect_event` / `ws_message_event` / `ws_disconnect_event`
  build the events; `authorizer_context` and `policy_allows` read an authorizer's answer.
- SQS: `sqs_record` / `sqs_event` from messages as ReceiveMessage returns them.
- DynamoDB Streams: `dynamodb_stream_record` / `dynamodb_stream_event` from GetRecords.

Standard library only: the local Lambda runtime (`lambda_bootstrap.py`) loads this file by
its path, without putting the repository on the handler's `sys.path`.
"""

from __future__ import annotations

import base64
import json
import os
import sys
import time
import uuid
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from fnmatch import fnmatchcase
from typing import Any, Generic, Protocol, TypeVar
from urllib.parse import unquote

ACCOUNT_ID = "123456789012"  # moto's default account
REGION = "us-east-1"


def now_ms() -> int:
    return int(time.time() * 1000)


def _request_time(epoch_ms: int) -> str:
    return datetime.fromtimestamp(epoch_ms / 1000, UTC).strftime("%d/%b/%Y:%H:%M:%S +0000")


def _short_id() -> str:
    return base64.b64encode(os.urandom(11)).decode()


# ---------------------------------------------------------------------- context
@dataclass
class LambdaContext:
    """The `context` argument, with the attributes and method of the Python runtime's.
    `LambdaContext("Fn", 2000)` in tests; `from_environment` inside a local worker."""

    function_name: str = "test-function"
    timeout_ms: int = 15_000
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    invoked_function_arn: str = ""
    memory_limit_in_mb: str = "512"  # a string, as the runtime reads it from its environment
    function_version: str = "$LATEST"
    log_group_name: str = ""
    log_stream_name: str = "local"
    deadline_ms: int = 0  # epoch ms; 0: timeout_ms from now
    identity: Any = None
    client_context: Any = None
    tenant_id: Any = None

    def __post_init__(self) -> None:
        self.invoked_function_arn = self.invoked_function_arn or (
            f"arn:aws:lambda:{REGION}:{ACCOUNT_ID}:function:{self.function_name}"
        )
        self.log_group_name = self.log_group_name or f"/aws/lambda/{self.function_name}"
        self.deadline_ms = self.deadline_ms or now_ms() + self.timeout_ms

    @classmethod
    def from_environment(
        cls, request_id: str, deadline_ms: int, invoked_function_arn: str
    ) -> LambdaContext:
        env = os.environ
        return cls(
            function_name=env.get("AWS_LAMBDA_FUNCTION_NAME", ""),
            aws_request_id=request_id,
            invoked_function_arn=invoked_function_arn,
            memory_limit_in_mb=env.get("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", ""),
            function_version=env.get("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST"),
            log_group_name=env.get("AWS_LAMBDA_LOG_GROUP_NAME", ""),
            log_stream_name=env.get("AWS_LAMBDA_LOG_STREAM_NAME", ""),
            deadline_ms=deadline_ms,
        )

    def get_remaining_time_in_millis(self) -> int:
        return max(0, self.deadline_ms - now_ms())

    def log(self, message: str) -> None:
        sys.stdout.write(message)
        sys.stdout.flush()


# ---------------------------------------------------------------------- REST
class _Route(Protocol):
    path: str  # the resource, e.g. /rooms/{room_id}
    method: str  # GET, POST … or ANY


R = TypeVar("R", bound=_Route)


def _segments(path: str) -> list[str]:
    return [part for part in path.strip("/").split("/") if part]


def match_path(resource: str, path: str) -> dict[str, str] | None:
    """The path parameters if `path` is an instance of `resource` ({name}, {name+}), else None."""
    parts, segments = _segments(resource), [unquote(s) for s in _segments(path.split("?")[0])]
    params: dict[str, str] = {}
    for index, part in enumerate(parts):
        if index >= len(segments):
            return None
        if part.startswith("{") and part.endswith("+}"):
            params[part[1:-2]] = "/".join(segments[index:])
            return params
        if part.startswith("{") and part.endswith("}"):
            params[part[1:-1]] = segments[index]
        elif part != segments[index]:
            return None
    return params if len(segments) == len(parts) else None


class RestRoutes(Generic[R]):
    """The routes of a REST API, found as API Gateway finds them: first the resource (literal
    segments win over {params}, which win over {greedy+}), then the method (or ANY)."""

    def __init__(self, routes: Iterable[R]):
        resources: dict[str, dict[str, R]] = {}
        for route in routes:
            resources.setdefault(route.path, {})[route.method.upper()] = route
        self.resources = sorted(
            resources.items(), key=lambda item: (_specificity(item[0]), item[0])
        )

    def find(self, method: str, path: str) -> tuple[R | None, dict[str, str]] | None:
        """None: no resource; (None, params): the resource has no such method."""
        for resource, methods in self.resources:
            params = match_path(resource, path)
            if params is not None:
                return methods.get(method.upper()) or methods.get("ANY"), params
        return None


def _specificity(resource: str) -> tuple[int, ...]:
    return tuple(
        2 if part.endswith("+}") else 1 if part.startswith("{") else 0
        for part in _segments(resource)
    )


def rest_event(
    method: str,
    resource: str,
    path: str,
    *,
    headers: Mapping[str, str] | None = None,
    multi_value_headers: Mapping[str, list[str]] | None = None,
    query: Sequence[tuple[str, str]] = (),
    path_parameters: Mapping[str, str] | None = None,
    body: str | None = None,
    is_base64: bool = False,
    stage: str = "v1",
    api_id: str = "testapi",
    request_id: str | None = None,
    source_ip: str = "127.0.0.1",
    user_agent: str | None = None,
    domain_name: str = "testapi.execute-api.us-east-1.amazonaws.com",
    protocol: str = "HTTP/1.1",
) -> dict[str, Any]:
    """A REST API proxy event: `resource` is the route's template, `path` the real path."""
    headers = dict(headers or {})
    multi_headers = {k: list(v) for k, v in (multi_value_headers or {}).items()} or {
        name: [value] for name, value in headers.items()
    }
    multi_query: dict[str, list[str]] = {}
    for name, value in query:
        multi_query.setdefault(name, []).append(value)
    if path_parameters is None:
        path_parameters = match_path(resource, path)
        assert path_parameters is not None, f"{path} does not match {resource}"
    now = now_ms()
    return {
        "resource": resource,
        "path": path,
        "httpMethod": method,
        "headers": headers,
        "multiValueHeaders": multi_headers,
        "queryStringParameters": {name: values[-1] for name, values in multi_query.items()} or None,
        "multiValueQueryStringParameters": multi_query or None,
        "pathParameters": dict(path_parameters) or None,
        "stageVariables": None,
        "requestContext": {
            "resourceId": resource.strip("/").replace("/", "-")[:10] or "root",
            "resourcePath": resource,
            "httpMethod": method,
            "extendedRequestId": _short_id(),
            "requestTime": _request_time(now),
            "path": f"/{stage}{path}",
            "accountId": ACCOUNT_ID,
            "protocol": protocol,
            "stage": stage,
            "domainPrefix": api_id,
            "requestTimeEpoch": now,
            "requestId": request_id or str(uuid.uuid4()),
            "identity": {
                **dict.fromkeys(
                    (
                        "cognitoIdentityPoolId",
                        "accountId",
                        "cognitoIdentityId",
                        "caller",
                        "principalOrgId",
                        "accessKey",
                        "cognitoAuthenticationType",
                        "cognitoAuthenticationProvider",
                        "userArn",
                        "user",
                    )
                ),
                "sourceIp": source_ip,
                "userAgent": user_agent,
            },
            "domainName": domain_name,
            "apiId": api_id,
        },
        "body": body,
        "isBase64Encoded": is_base64,
    }


# ---------------------------------------------------------------------- WebSocket
@dataclass
class WebSocketConnection:
    """A WebSocket connection as API Gateway describes it in its events."""

    connection_id: str
    stage: str = "v1"
    api_id: str = "testws"
    domain_name: str = "testws.execute-api.us-east-1.amazonaws.com"
    source_ip: str = "127.0.0.1"
    user_agent: str | None = None
    headers: dict[str, str] = field(default_factory=dict)
    multi_value_headers: dict[str, list[str]] = field(default_factory=dict)
    connected_at: int = field(default_factory=now_ms)  # epoch ms
    # What the $connect authorizer answered: principalId and its context, handed to every
    # route of the connection as requestContext.authorizer (None: no authorizer).
    authorizer: dict[str, Any] | None = None


def _ws_context(connection: WebSocketConnection, route_key: str, event_type: str) -> dict:
    now = now_ms()
    request_id = _short_id()
    context: dict[str, Any] = {}
    if connection.authorizer is not None:
        context["authorizer"] = dict(connection.authorizer)
    return {
        **context,
        "routeKey": route_key,
        "eventType": event_type,
        "extendedRequestId": request_id,
        "requestTime": _request_time(now),
        "messageDirection": "IN",
        "stage": connection.stage,
        "connectedAt": connection.connected_at,
        "requestTimeEpoch": now,
        "identity": {"sourceIp": connection.source_ip, "userAgent": connection.user_agent},
        "requestId": request_id,
        "domainName": connection.domain_name,
        "connectionId": connection.connection_id,
        "apiId": connection.api_id,
    }


def _headers(connection: WebSocketConnection) -> dict[str, Any]:
    return {
        "headers": connection.headers,
        "multiValueHeaders": connection.multi_value_headers
        or {name: [value] for name, value in connection.headers.items()},
    }


def _query(event: dict[str, Any], query: Sequence[tuple[str, str]]) -> None:
    if query:
        multi: dict[str, list[str]] = {}
        for name, value in query:
            multi.setdefault(name, []).append(value)
        event["queryStringParameters"] = {name: values[-1] for name, values in multi.items()}
        event["multiValueQueryStringParameters"] = multi


def ws_connect_event(
    connection: WebSocketConnection, query: Sequence[tuple[str, str]] = ()
) -> dict[str, Any]:
    event: dict[str, Any] = _headers(connection)
    _query(event, query)
    event["requestContext"] = _ws_context(connection, "$connect", "CONNECT")
    event["isBase64Encoded"] = False
    return event


def method_arn(connection: WebSocketConnection, route_key: str = "$connect") -> str:
    return f"arn:aws:execute-api:{REGION}:{ACCOUNT_ID}:{connection.api_id}/{connection.stage}/{route_key}"


def ws_authorizer_event(
    connection: WebSocketConnection, query: Sequence[tuple[str, str]] = ()
) -> dict[str, Any]:
    """What a Lambda REQUEST authorizer of `$connect` gets (type, methodArn, the handshake)."""
    event: dict[str, Any] = {"type": "REQUEST", "methodArn": method_arn(connection)}
    event.update(_headers(connection))
    _query(event, query)
    event["stageVariables"] = {}
    event["requestContext"] = _ws_context(connection, "$connect", "CONNECT")
    return event


def identity_present(
    sources: Iterable[str], query: Sequence[tuple[str, str]], headers: Mapping[str, str]
) -> bool:
    """Whether every identity source (route.request.querystring.X / header.X) is in the
    request and not empty: API Gateway answers 401 without calling the authorizer otherwise."""
    values = dict(query)
    lowered = {name.lower(): value for name, value in headers.items()}
    for source in sources:
        if source.startswith("route.request.querystring."):
            found = values.get(source.removeprefix("route.request.querystring."))
        elif source.startswith("route.request.header."):
            found = lowered.get(source.removeprefix("route.request.header.").lower())
        else:
            continue  # stage variables, context: not checked locally
        if not found:
            return False
    return True


def policy_allows(answer: Any, resource: str) -> bool:
    """Whether an authorizer's IAM policy allows execute-api:Invoke on `resource` (an
    explicit Deny wins; `*` and `?` match as in IAM)."""
    if not isinstance(answer, dict) or not isinstance(answer.get("policyDocument"), dict):
        return False
    statements = answer["policyDocument"].get("Statement") or []
    allowed = False
    for statement in statements if isinstance(statements, list) else [statements]:
        actions, resources = statement.get("Action"), statement.get("Resource")
        actions = actions if isinstance(actions, list) else [actions]
        resources = resources if isinstance(resources, list) else [resources]
        if not any(fnmatchcase("execute-api:Invoke", str(a)) for a in actions):
            continue
        if not any(fnmatchcase(resource, str(r)) for r in resources):
            continue
        if statement.get("Effect") == "Deny":
            return False
        allowed = allowed or statement.get("Effect") == "Allow"
    return allowed


def authorizer_context(answer: dict[str, Any]) -> dict[str, Any]:
    """requestContext.authorizer of the routes after an allowed handshake."""
    return {**(answer.get("context") or {}), "principalId": answer.get("principalId")}


def ws_message_event(
    connection: WebSocketConnection, route_key: str, body: str, is_base64: bool = False
) -> dict[str, Any]:
    context = _ws_context(connection, route_key, "MESSAGE")
    context = {"routeKey": route_key, "messageId": _short_id(), **context}
    return {"requestContext": context, "body": body, "isBase64Encoded": is_base64}


def ws_disconnect_event(
    connection: WebSocketConnection,
    code: int = 1000,
    reason: str = "Client-side close frame status set to 1000",
) -> dict[str, Any]:
    context = _ws_context(connection, "$disconnect", "DISCONNECT")
    context["disconnectStatusCode"] = code
    context["disconnectReason"] = reason
    return {**_headers(connection), "requestContext": context, "isBase64Encoded": False}


# Routes API Gateway runs for a connection's opening and end, never for a frame.
_CONNECTION_ROUTES = frozenset({"$connect", "$disconnect"})


def select_route(expression: str, route_keys: Collection[str], body: str | None) -> str:
    """The route key a RouteSelectionExpression (e.g. `$request.body.type`) picks for a frame,
    `$default` when it picks none of `route_keys` (a frame that is not JSON, or nests too
    deep for Python's parser, included: the `$default` function's body rules answer it)."""
    frame_routes = [key for key in route_keys if key not in _CONNECTION_ROUTES]
    expression = expression.strip()
    if expression.startswith("${") and expression.endswith("}"):
        expression = "$" + expression[2:-1]
    if not expression.startswith("$request.body") or body is None:
        return expression if expression in frame_routes else "$default"
    try:
        value: Any = json.loads(body)
    except (ValueError, RecursionError):
        return "$default"
    for key in filter(None, expression.removeprefix("$request.body").split(".")):
        if not isinstance(value, dict) or key not in value:
            return "$default"
        value = value[key]
    if isinstance(value, dict | list) or value is None:
        return "$default"
    key = json.dumps(value) if isinstance(value, bool) else str(value)
    return key if key in frame_routes else "$default"


# ---------------------------------------------------------------------- SQS
def sqs_record(message: Mapping[str, Any], queue_arn: str, region: str = REGION) -> dict:
    """A received message (ReceiveMessage's shape) as Lambda hands it to the function."""
    record: dict[str, Any] = {
        "messageId": message["MessageId"],
        "receiptHandle": message["ReceiptHandle"],
        "body": message.get("Body", ""),
        "attributes": dict(message.get("Attributes") or {}),
        "messageAttributes": {
            name: _message_attribute(value)
            for name, value in (message.get("MessageAttributes") or {}).items()
        },
        "md5OfBody": message.get("MD5OfBody"),
        "eventSource": "aws:sqs",
        "eventSourceARN": queue_arn,
        "awsRegion": region,
    }
    if message.get("MD5OfMessageAttributes"):
        record["md5OfMessageAttributes"] = message["MD5OfMessageAttributes"]
    return record


def sqs_event(
    messages: Iterable[Mapping[str, Any]], queue_arn: str, region: str = REGION
) -> dict[str, Any]:
    return {"Records": [sqs_record(message, queue_arn, region) for message in messages]}


def _message_attribute(value: Mapping[str, Any]) -> dict[str, Any]:
    attribute: dict[str, Any] = {
        "stringListValues": [],
        "binaryListValues": [],
        "dataType": value["DataType"],
    }
    if "StringValue" in value:
        attribute["stringValue"] = value["StringValue"]
    if "BinaryValue" in value:
        attribute["binaryValue"] = base64.b64encode(value["BinaryValue"]).decode()
    return attribute


# ---------------------------------------------------------------------- DynamoDB Streams
def _stream_json(value: Any) -> Any:
    """An attribute value of GetRecords (boto3: bytes for B/BS) as the event's JSON has it."""
    if isinstance(value, bytes | bytearray):
        return base64.b64encode(value).decode()
    if isinstance(value, dict):
        return {key: _stream_json(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_stream_json(item) for item in value]
    return value


def dynamodb_stream_record(
    record: Mapping[str, Any], stream_arn: str, region: str = REGION
) -> dict[str, Any]:
    """A record of GetRecords as Lambda hands it to the function (creation time in epoch
    seconds, binary values base64, the stream's ARN)."""
    change = dict(record["dynamodb"])
    created = change.get("ApproximateCreationDateTime")
    if isinstance(created, datetime):
        change["ApproximateCreationDateTime"] = float(int(created.timestamp()))
    for key in ("Keys", "NewImage", "OldImage"):
        if key in change:
            change[key] = _stream_json(change[key])
    return {
        "eventID": record["eventID"],
        "eventName": record["eventName"],
        "eventVersion": record.get("eventVersion", "1.1"),
        "eventSource": "aws:dynamodb",
        "awsRegion": record.get("awsRegion", region),
        "dynamodb": change,
        "eventSourceARN": stream_arn,
    }


def dynamodb_stream_event(
    records: Iterable[Mapping[str, Any]], stream_arn: str, region: str = REGION
) -> dict[str, Any]:
    return {"Records": [dynamodb_stream_record(record, stream_arn, region) for record in records]}
