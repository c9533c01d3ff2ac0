"""The WebSocket API (API Gateway v2, WEBSOCKET) and its management API, on one aiohttp port.

- `GET /` (or `/{stage}`) upgrades to a WebSocket after the `$connect` route's authorizer
  (a Lambda REQUEST authorizer: its identity sources must be present, else 401; it fails
  with "Unauthorized": 401; its policy does not allow the route: 403) and its function
  (200) let it; any other status refuses the handshake with that status. The authorizer's
  context reaches every route of the connection as `requestContext.authorizer`.
- Each frame is routed by the API's RouteSelectionExpression (e.g. `$request.body.type`)
  to a route of the template, else to `$default`; the function runs with the WebSocket
  proxy event. `$disconnect` runs once the socket is closed, whoever closed it.
- `POST|GET|DELETE /@connections/{id}` (also under `/{stage}`) is the management API
  (`apigatewaymanagementapi`): send a frame, describe, close; 410 GoneException for a
  connection that is not open. With `faults` (local.faults), a share of these calls fail as
  API Gateway's do: 429, 500, or 410 with the socket dropped.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import logging
import os
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from aiohttp import WSMsgType, web

from local.events import (
    WebSocketConnection,
    authorizer_context,
    identity_present,
    method_arn,
    now_ms,
    policy_allows,
    select_route,
    ws_authorizer_event,
    ws_connect_event,
    ws_disconnect_event,
    ws_message_event,
)
from local.faults import Faults, management_api_error
from local.gateway import forwarded_headers
from local.lambda_runtime import InvokeResult
from local.model import WebSocketApiSpec, WebSocketAuthorizer

log = logging.getLogger("local")

Invoke = Callable[..., Awaitable[InvokeResult]]
MAX_FRAME_BYTES = 128 * 1024  # API Gateway's WebSocket message limit
IDLE_TIMEOUT_SECONDS = 600.0  # API Gateway closes connections idle for 10 minutes


@dataclass(kw_only=True)
class Connection(WebSocketConnection):
    ws: web.WebSocketResponse
    last_active_at: int = 0
    send_lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    closed_by_server: bool = False
    transport: asyncio.Transport | None = None  # its TCP connection (to drop it)


def new_connection_id() -> str:
    """16 characters like API Gateway's (e.g. `BFHPhfCWIAMCKlQ=`), safe in a URL path."""
    return base64.urlsafe_b64encode(os.urandom(11)).decode()


def _iso(epoch_ms: int) -> str:
    moment = datetime.fromtimestamp(epoch_ms / 1000, UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


class WebSocketApi:
    def __init__(
        self,
        spec: WebSocketApiSpec,
        invoke: Invoke,
        *,
        idle_timeout: float = IDLE_TIMEOUT_SECONDS,
        faults: Faults | None = None,
    ):
        self.spec = spec
        self.invoke = invoke
        self.idle_timeout = idle_timeout
        self.faults = faults
        self.connections: dict[str, Connection] = {}
        self._tasks: set[asyncio.Task[Any]] = set()
        self._stopping = False

    def app(self) -> web.Application:
        app = web.Application(client_max_size=MAX_FRAME_BYTES + 1)
        for prefix in ("", f"/{self.spec.stage}"):
            app.router.add_get(prefix or "/", self.handshake)
            management = f"{prefix}/@connections/{{connection_id}}"
            app.router.add_post(management, self.post_to_connection)
            app.router.add_get(management, self.get_connection)
            app.router.add_delete(management, self.delete_connection)
        return app

    def select_route(self, body: str | None) -> str:
        return select_route(self.spec.route_selection_expression, self.spec.routes, body)

    # ------------------------------------------------------------------ connections
    async def handshake(self, request: web.Request) -> web.StreamResponse:
        ws = web.WebSocketResponse(max_msg_size=MAX_FRAME_BYTES, autoping=True)
        if not ws.can_prepare(request).ok:
            return web.json_response({"message": "Upgrade Required"}, status=426)
        headers, multi_headers = forwarded_headers(request)
        connection = Connection(
            connection_id=new_connection_id(),
            ws=ws,
            stage=self.spec.stage,
            api_id=self.spec.api_id,
            source_ip=request.remote or "127.0.0.1",
            user_agent=request.headers.get("User-Agent"),
            headers=headers,
            multi_value_headers=multi_headers,
            domain_name=request.host,
        )
        connection.last_active_at = connection.connected_at
        route = self.spec.routes.get("$connect")
        if route is not None and route.authorizer is not None:
            refusal = await self._authorize(route.authorizer, connection, request)
            if refusal is not None:
                return refusal
        if route is not None:
            started = time.monotonic()
            event = ws_connect_event(connection, list(request.query.items()))
            result = await self.invoke(route.function, event)
            status = _connect_status(result)
            log.info(
                "WS  $connect %s -> %s %d (%.0f ms%s)",
                connection.connection_id,
                route.function,
                status,
                (time.monotonic() - started) * 1000,
                ", cold start" if result.cold_start else "",
            )
            if status != 200:
                return _refusal(status, result)
            protocol = _header(result.payload, "Sec-WebSocket-Protocol")
            if protocol:
                ws = web.WebSocketResponse(
                    max_msg_size=MAX_FRAME_BYTES, autoping=True, protocols=(protocol,)
                )
                connection.ws = ws
        try:
            await ws.prepare(request)
        except (ConnectionError, RuntimeError):
            # The client left while $connect ran: the connection existed for the function,
            # so it hears about its end like any other.
            await self._disconnected(connection)
            raise
        connection.transport = request.transport
        self.connections[connection.connection_id] = connection
        try:
            await self._receive_frames(connection)
        finally:
            self.connections.pop(connection.connection_id, None)
            if not ws.closed:
                await ws.close()
            await self._disconnected(connection)
        return ws

    async def _authorize(
        self, authorizer: WebSocketAuthorizer, connection: Connection, request: web.Request
    ) -> web.Response | None:
        """Run the route's Lambda REQUEST authorizer as API Gateway does; the refusal, if any."""
        query = list(request.query.items())
        if not identity_present(authorizer.identity_sources, query, request.headers):
            log.info("WS  $connect %s -> 401 (no identity source)", connection.connection_id)
            return web.json_response({"message": "Unauthorized"}, status=401)
        started = time.monotonic()
        result = await self.invoke(authorizer.function, ws_authorizer_event(connection, query))
        if result.ok and policy_allows(result.payload, method_arn(connection)):
            connection.authorizer = authorizer_context(result.payload)
            status = 200
        elif result.ok:
            status = 403
        elif (result.error or {}).get("errorMessage") == "Unauthorized":
            status = 401
        else:
            status = 500
        log.info(
            "WS  $connect %s -> %s %d (%.0f ms%s)",
            connection.connection_id,
            authorizer.function,
            status,
            (time.monotonic() - started) * 1000,
            ", cold start" if result.cold_start else "",
        )
        if status == 200:
            return None
        message = {401: "Unauthorized", 403: "Forbidden"}.get(status, "Internal server error")
        return web.json_response({"message": message}, status=status)

    async def _receive_frames(self, connection: Connection) -> None:
        ws = connection.ws
        while True:
            try:
                message = await ws.receive(timeout=self.idle_timeout)
            except TimeoutError:
                connection.closed_by_server = True
                await ws.close(code=1001, message=b"Going away")
                return
            if message.type == WSMsgType.TEXT:
                self._spawn(self._frame(connection, message.data, False))
            elif message.type == WSMsgType.BINARY:
                self._spawn(self._frame(connection, base64.b64encode(message.data).decode(), True))
            elif message.type in (
                WSMsgType.CLOSE,
                WSMsgType.CLOSING,
                WSMsgType.CLOSED,
                WSMsgType.ERROR,
            ):
                return

    async def _disconnected(self, connection: Connection) -> None:
        route = self.spec.routes.get("$disconnect")
        if route is None or self._stopping:
            return
        code = connection.ws.close_code or 1006
        if connection.closed_by_server:
            reason = "Connection closed by the server"
        elif code == 1005:
            reason = "Client-side close frame status not set"
        elif code == 1006:
            reason = "Going away"
        else:
            reason = f"Client-side close frame status set to {code}"
        started = time.monotonic()
        result = await self.invoke(route.function, ws_disconnect_event(connection, code, reason))
        log.info(
            "WS  $disconnect %s -> %s %s (%.0f ms)",
            connection.connection_id,
            route.function,
            "ok" if result.ok else (result.error or {}).get("errorType"),
            (time.monotonic() - started) * 1000,
        )

    def _spawn(self, coroutine: Awaitable[None]) -> None:
        task = asyncio.ensure_future(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _frame(self, connection: Connection, body: str, is_base64: bool) -> None:
        connection.last_active_at = now_ms()
        route_key = self.select_route(None if is_base64 else body)
        route = self.spec.routes.get(route_key)
        event = ws_message_event(connection, route_key, body, is_base64)
        request_id = event["requestContext"]["requestId"]
        if route is None:  # no matching route and no $default
            await self._send_error(connection, "Forbidden", request_id)
            return
        started = time.monotonic()
        result = await self.invoke(route.function, event)
        log.info(
            "WS  %s %s -> %s %s (%.0f ms%s)",
            route_key,
            connection.connection_id,
            route.function,
            "ok" if result.ok else (result.error or {}).get("errorType"),
            (time.monotonic() - started) * 1000,
            ", cold start" if result.cold_start else "",
        )
        if not result.ok:
            message = "Endpoint request timed out" if result.timed_out else "Internal server error"
            await self._send_error(connection, message, request_id)
        elif (
            route.two_way
            and isinstance(result.payload, dict)
            and result.payload.get("body") is not None
        ):
            await self.send(connection.connection_id, str(result.payload["body"]).encode())

    async def _send_error(self, connection: Connection, message: str, request_id: str) -> None:
        frame = {
            "message": message,
            "connectionId": connection.connection_id,
            "requestId": request_id,
        }
        await self.send(connection.connection_id, json.dumps(frame).encode())

    async def send(self, connection_id: str, data: bytes) -> bool:
        connection = self.connections.get(connection_id)
        if connection is None or connection.ws.closed:
            return False
        try:
            async with connection.send_lock:
                try:
                    await connection.ws.send_str(data.decode("utf-8"))
                except UnicodeDecodeError:
                    await connection.ws.send_bytes(data)
        except (ConnectionError, RuntimeError):
            return False
        return True

    # ------------------------------------------------------------------ management API
    async def post_to_connection(self, request: web.Request) -> web.Response:
        refusal = await self._fault(request, "PostToConnection")
        if refusal is not None:
            return refusal
        try:
            data = await request.read()
        except web.HTTPRequestEntityTooLarge:
            return _management_error(413, "PayloadTooLargeException", "Message too long")
        if len(data) > MAX_FRAME_BYTES:
            return _management_error(413, "PayloadTooLargeException", "Message too long")
        if not await self.send(request.match_info["connection_id"], data):
            return _management_error(410, "GoneException", None)
        return web.Response(status=200)

    async def get_connection(self, request: web.Request) -> web.Response:
        refusal = await self._fault(request, "GetConnection")
        if refusal is not None:
            return refusal
        connection = self.connections.get(request.match_info["connection_id"])
        if connection is None:
            return _management_error(410, "GoneException", None)
        return web.json_response(
            {  # the wire names of GetConnection's output (botocore maps them to ConnectedAt …)
                "connectedAt": _iso(connection.connected_at),
                "identity": {
                    "sourceIp": connection.source_ip,
                    "userAgent": connection.user_agent or "",
                },
                "lastActiveAt": _iso(connection.last_active_at),
            }
        )

    async def delete_connection(self, request: web.Request) -> web.Response:
        refusal = await self._fault(request, "DeleteConnection")
        if refusal is not None:
            return refusal
        connection = self.connections.get(request.match_info["connection_id"])
        if connection is None or connection.ws.closed:
            return _management_error(410, "GoneException", None)
        connection.closed_by_server = True
        await connection.ws.close(code=1000, message=b"")
        return web.Response(status=204)

    async def _fault(self, request: web.Request, operation: str) -> web.Response | None:
        """The injected failure of this management call, if it gets one."""
        fault = self.faults.next() if self.faults is not None else None
        if fault is None:
            return None
        connection_id = request.match_info["connection_id"]
        status, code, message = management_api_error(fault)
        if fault.kind == "gone":
            # API Gateway answers 410 for a connection that is gone: the client's network
            # dropped it. Its socket breaks without a close frame; $disconnect runs.
            connection = self.connections.get(connection_id)
            if connection is not None and connection.transport is not None:
                connection.transport.abort()
        fault.log(f"{operation} {connection_id} -> {status} {code}")
        return _management_error(status, code, message or None)

    async def close_all(self) -> None:
        """Stopping: close every socket (going away) without running $disconnect."""
        self._stopping = True
        for connection in list(self.connections.values()):
            connection.closed_by_server = True
            with contextlib.suppress(Exception):
                await connection.ws.close(code=1001, message=b"Server shutting down")
        for task in list(self._tasks):
            task.cancel()


def _connect_status(result: InvokeResult) -> int:
    if not result.ok:
        return 504 if result.timed_out else 500
    payload = result.payload
    if isinstance(payload, dict) and "statusCode" in payload:
        with contextlib.suppress(TypeError, ValueError):
            return int(payload["statusCode"])
        return 500
    return 200 if payload is None or isinstance(payload, dict) else 500


def _refusal(status: int, result: InvokeResult) -> web.Response:
    body = result.payload.get("body") if result.ok and isinstance(result.payload, dict) else None
    if body is None:
        body = json.dumps({"message": "Internal server error" if status >= 500 else "Forbidden"})
    return web.Response(status=status, text=str(body))


def _header(payload: Any, name: str) -> str | None:
    if not isinstance(payload, dict):
        return None
    for key, value in (payload.get("headers") or {}).items():
        if key.lower() == name.lower():
            return str(value)
    return None


def _management_error(status: int, error_type: str, message: str | None) -> web.Response:
    return web.json_response(
        {"message": message},
        status=status,
        headers={"x-amzn-ErrorType": error_type, "x-amzn-RequestId": str(uuid.uuid4())},
    )
