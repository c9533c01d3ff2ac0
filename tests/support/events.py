"""Events as API Gateway and SQS send them to Lambda: the one builder of each shape."""

from __future__ import annotations

import json
import re
import time
import uuid
from typing import Any


class LambdaContext:
    """What Lambda passes as `context` (the parts Powertools and our code read)."""

    def __init__(self, function_name: str = "test-function", timeout_ms: int = 15_000):
        self.function_name = function_name
        self.function_version = "$LATEST"
        self.invoked_function_arn = (
            f"arn:aws:lambda:us-east-1:123456789012:function:{function_name}"
        )
        self.memory_limit_in_mb = 512
        self.aws_request_id = str(uuid.uuid4())
        self.log_group_name = f"/aws/lambda/{function_name}"
        self.log_stream_name = "test"
        self._deadline = time.monotonic() + timeout_ms / 1000

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.monotonic()) * 1000))


def rest_event(
    method: str,
    resource: str,
    path: str,
    *,
    body: Any = None,
    raw_body: str | None = None,
    headers: dict[str, str] | None = None,
    query: dict[str, str] | None = None,
    token: str | None = None,
    source_ip: str = "127.0.0.1",
) -> dict[str, Any]:
    """A REST API proxy event. `resource` is the route template, `path` the real path."""
    all_headers = {"Content-Type": "application/json", **(headers or {})}
    if token:
        all_headers["Authorization"] = f"Bearer {token}"
    names = re.findall(r"{(\w+)}", resource)
    pattern = "^" + re.sub(r"{\w+}", "([^/]+)", resource) + "$"
    match = re.match(pattern, path)
    assert match, f"{path} does not match {resource}"
    text = raw_body if raw_body is not None else (json.dumps(body) if body is not None else None)
    return {
        "resource": resource,
        "path": path,
        "httpMethod": method,
        "headers": all_headers,
        "multiValueHeaders": {key: [value] for key, value in all_headers.items()},
        "queryStringParameters": query or None,
        "multiValueQueryStringParameters": {key: [value] for key, value in query.items()}
        if query
        else None,
        "pathParameters": dict(zip(names, match.groups(), strict=True)) or None,
        "stageVariables": None,
        "requestContext": {
            "resourcePath": resource,
            "httpMethod": method,
            "path": f"/v1{path}",
            "stage": "v1",
            "requestId": str(uuid.uuid4()),
            "identity": {"sourceIp": source_ip, "userAgent": "pytest"},
            "accountId": "123456789012",
            "apiId": "testapi",
        },
        "body": text,
        "isBase64Encoded": False,
    }


def _ws_context(connection_id: str, route_key: str, event_type: str) -> dict[str, Any]:
    return {
        "routeKey": route_key,
        "eventType": event_type,
        "connectionId": connection_id,
        "requestId": str(uuid.uuid4()),
        "domainName": "testws.execute-api.us-east-1.amazonaws.com",
        "stage": "v1",
        "apiId": "testws",
        "connectedAt": int(time.time() * 1000),
        "requestTimeEpoch": int(time.time() * 1000),
        "messageDirection": "IN",
        "extendedRequestId": str(uuid.uuid4()),
    }


def ws_connect_event(connection_id: str, token: str | None) -> dict[str, Any]:
    return {
        "headers": {"Host": "testws.execute-api.us-east-1.amazonaws.com"},
        "queryStringParameters": {"token": token} if token is not None else None,
        "requestContext": _ws_context(connection_id, "$connect", "CONNECT"),
        "isBase64Encoded": False,
    }


def ws_disconnect_event(connection_id: str) -> dict[str, Any]:
    return {
        "requestContext": _ws_context(connection_id, "$disconnect", "DISCONNECT"),
        "isBase64Encoded": False,
    }


def ws_message_event(connection_id: str, body: str, route_key: str = "$default") -> dict[str, Any]:
    return {
        "requestContext": _ws_context(connection_id, route_key, "MESSAGE"),
        "body": body,
        "isBase64Encoded": False,
    }


def sqs_event(records: list[dict[str, Any]], queue_arn: str) -> dict[str, Any]:
    """An SQS event from messages as ReceiveMessage returns them (with all attributes)."""
    return {
        "Records": [
            {
                "messageId": record["MessageId"],
                "receiptHandle": record["ReceiptHandle"],
                "body": record["Body"],
                "attributes": record.get("Attributes", {}),
                "messageAttributes": {},
                "md5OfBody": record.get("MD5OfBody", ""),
                "eventSource": "aws:sqs",
                "eventSourceARN": queue_arn,
                "awsRegion": "us-east-1",
            }
            for record in records
        ]
    }
