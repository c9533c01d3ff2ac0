"""Lambda events and contexts for the tests: the local stack's builders (`local.events`), with
the tests' shorthands (a JSON body, a bearer token, a connection id)."""

from __future__ import annotations

import json
from typing import Any

from local import events
from local.events import LambdaContext, WebSocketConnection, sqs_event

__all__ = [
    "LambdaContext",
    "rest_event",
    "sqs_event",
    "ws_authorizer_event",
    "ws_connect_event",
    "ws_disconnect_event",
    "ws_message_event",
]


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
    request_id: str | None = None,
) -> dict[str, Any]:
    """A REST API proxy event. `resource` is the route template, `path` the real path."""
    all_headers = {"Content-Type": "application/json", **(headers or {})}
    if token:
        all_headers["Authorization"] = f"Bearer {token}"
    text = raw_body if raw_body is not None else (json.dumps(body) if body is not None else None)
    return events.rest_event(
        method,
        resource,
        path,
        headers=all_headers,
        query=list((query or {}).items()),
        body=text,
        source_ip=source_ip,
        user_agent="pytest",
        request_id=request_id,
    )


def _connection(
    connection_id: str, authorizer: dict[str, Any] | None = None, connected_at: int = 0
) -> WebSocketConnection:
    connection = WebSocketConnection(
        connection_id,
        headers={"Host": "testws.execute-api.us-east-1.amazonaws.com"},
        authorizer=authorizer,
    )
    if connected_at:
        connection.connected_at = connected_at
    return connection


def _token_query(token: str | None) -> list[tuple[str, str]]:
    return [("token", token)] if token is not None else []


def ws_authorizer_event(connection_id: str, token: str | None) -> dict[str, Any]:
    """What the $connect authorizer gets for a handshake with ?token=."""
    return events.ws_authorizer_event(_connection(connection_id), _token_query(token))


def ws_connect_event(
    connection_id: str,
    token: str | None,
    authorizer: dict[str, Any] | None = None,
    connected_at: int = 0,
) -> dict[str, Any]:
    """$connect; `authorizer` is what the authorizer let in (requestContext.authorizer),
    `connected_at` the connection's `connectedAt` (epoch ms; 0: now)."""
    connection = _connection(connection_id, authorizer, connected_at)
    return events.ws_connect_event(connection, _token_query(token))


def ws_disconnect_event(
    connection_id: str, authorizer: dict[str, Any] | None = None, connected_at: int = 0
) -> dict[str, Any]:
    return events.ws_disconnect_event(_connection(connection_id, authorizer, connected_at))


def ws_message_event(
    connection_id: str,
    body: str,
    route_key: str = "$default",
    authorizer: dict[str, Any] | None = None,
    connected_at: int = 0,
) -> dict[str, Any]:
    connection = _connection(connection_id, authorizer, connected_at)
    return events.ws_message_event(connection, route_key, body)
