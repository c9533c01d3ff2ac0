"""Drive the real handlers in-process: REST routed through template.yaml's own events,
WebSocket events per connection, and a record of what the management API was asked to push."""

from __future__ import annotations

import importlib
import importlib.util
import json
import threading
from collections import Counter
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any, ClassVar
from urllib.parse import unquote, urlsplit

from botocore.awsrequest import AWSResponse

from local.events import (
    RestRoutes,
    WebSocketConnection,
    authorizer_context,
    identity_present,
    method_arn,
    now_ms,
    policy_allows,
    select_route,
)
from local.model import RestRoute, template_rest_routes
from local.template import load_template, resources_of_type
from tests.support.events import (
    LambdaContext,
    rest_event,
    ws_authorizer_event,
    ws_connect_event,
    ws_disconnect_event,
    ws_message_event,
)
from tests.support.iam import with_role

ROOT = Path(__file__).resolve().parents[2]


def _handler(logical_id: str) -> tuple[str, str, str]:
    """(code directory, module, attribute) of a function's Handler in the template."""
    function = load_template()["Resources"][logical_id]["Properties"]
    module_name, attribute = function["Handler"].rsplit(".", 1)
    return function["CodeUri"].strip("/"), module_name, attribute


def handler_of(logical_id: str):
    """The lambda_handler of a function of the template (its CodeUri is functions/<dir>),
    run with the function's IAM policies (tests.support.iam)."""
    code_dir, module_name, attribute = _handler(logical_id)
    module = importlib.import_module(f"{code_dir.replace('/', '.')}.{module_name}")
    return with_role(logical_id, getattr(module, attribute))


def container_of(logical_id: str):
    """The lambda_handler of a new container of a function: its handler module run again
    under another name, so it has its own resolver (as each Lambda container has)."""
    code_dir, module_name, attribute = _handler(logical_id)
    name = f"container_{logical_id}_{threading.get_ident()}"
    spec = importlib.util.spec_from_file_location(name, ROOT / code_dir / f"{module_name}.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return with_role(logical_id, getattr(module, attribute))


@cache
def _rest_routes() -> RestRoutes[RestRoute]:
    """The REST routes as `sam local start-api` reads them, matched as API Gateway does."""
    return RestRoutes(template_rest_routes())


@cache
def _websocket_routes() -> tuple[str, frozenset[str]]:
    """The WebSocket API's route selection expression and route keys."""
    template = load_template()
    (api,) = resources_of_type(template, "AWS::ApiGatewayV2::Api").values()
    routes = resources_of_type(template, "AWS::ApiGatewayV2::Route").values()
    keys = {route["Properties"]["RouteKey"] for route in routes}
    return api["Properties"]["RouteSelectionExpression"], frozenset(keys)


@cache
def _connect_identity_sources() -> tuple[str, ...]:
    """The identity sources of the WebSocket API's authorizer (what API Gateway checks)."""
    template = load_template()
    (authorizer,) = resources_of_type(template, "AWS::ApiGatewayV2::Authorizer").values()
    return tuple(authorizer["Properties"]["IdentitySource"])


@dataclass
class HttpResult:
    status: int
    headers: dict[str, str]
    body: Any

    @property
    def error_code(self) -> str | None:
        return self.body.get("error", {}).get("code") if isinstance(self.body, dict) else None


class RestClient:
    """Calls the REST functions the way API Gateway would, chosen by the template's routes.

    One container per function serves every call, unless `container_per_thread`: then each
    thread calling has its own containers. A Powertools resolver keeps the request it is
    resolving on itself, so one must never resolve two at once; Lambda never asks it to,
    and threads calling at once must each have theirs (tests of concurrent requests)."""

    def __init__(self, *, container_per_thread: bool = False) -> None:
        self.routes = _rest_routes()
        self._per_thread = threading.local() if container_per_thread else None

    def _handler(self, function: str):
        if self._per_thread is None:
            return handler_of(function)
        containers = self._per_thread.__dict__.setdefault("containers", {})
        if function not in containers:
            containers[function] = container_of(function)
        return containers[function]

    def resolve(self, method: str, path: str) -> tuple[str, str]:
        """The route template and the function's logical id API Gateway would pick."""
        found = self.routes.find(method, path.split("?", 1)[0])
        route = found[0] if found else None
        assert route is not None, f"no route for {method} {path}"
        return route.path, route.function

    def call(
        self, method: str, path: str, *, token: str | None = None, **kwargs: Any
    ) -> HttpResult:
        resource, function = self.resolve(method, path)
        event = rest_event(method, resource, path, token=token, **kwargs)
        response = self._handler(function)(event, LambdaContext(function))
        body = response.get("body")
        parsed = json.loads(body) if body else None
        headers = {key.lower(): value for key, value in (response.get("headers") or {}).items()}
        for key, values in (response.get("multiValueHeaders") or {}).items():
            headers.setdefault(key.lower(), values[-1])
        return HttpResult(response["statusCode"], headers, parsed)

    def get(self, path: str, **kwargs: Any) -> HttpResult:
        return self.call("GET", path, **kwargs)

    def post(self, path: str, body: Any = None, **kwargs: Any) -> HttpResult:
        return self.call("POST", path, body=body, **kwargs)

    def put(self, path: str, body: Any = None, **kwargs: Any) -> HttpResult:
        return self.call("PUT", path, body=body, **kwargs)

    def delete(self, path: str, **kwargs: Any) -> HttpResult:
        return self.call("DELETE", path, **kwargs)


class _Body:
    """An HTTP response body as botocore's AWSResponse reads it."""

    def __init__(self, data: bytes = b"") -> None:
        self.data = data

    def stream(self, **_: Any) -> list[bytes]:
        return [self.data]


class Sockets:
    """The management API's HTTP endpoint, played in-process: the real management client
    (chat.aws.ManagementApi) signs and sends each request to it. It records every
    PostToConnection and DeleteConnection, checks each is SigV4-signed for execute-api,
    and answers 410 Gone, 403 Forbidden or 500 for connections marked so (moto never does).
    `faults[connection_id]` lists the statuses its next requests get (429, 500, 503 …), one
    each, before it answers normally again; `attempts` counts every request per connection."""

    _ERRORS: ClassVar[dict[int, str]] = {
        410: "GoneException",
        403: "ForbiddenException",
        429: "LimitExceededException",
        500: "InternalServerErrorException",
        502: "BadGatewayException",
        503: "ServiceUnavailableException",
    }

    def __init__(self, management_client: Any) -> None:
        self.sent: dict[str, list[dict[str, Any]]] = {}
        self.closed: list[str] = []
        self.gone: set[str] = set()
        self.forbidden: set[str] = set()
        self.failing: set[str] = set()
        self.faults: dict[str, list[int]] = {}
        self.attempts: Counter[str] = Counter()
        management_client.http = self

    def send(self, request: Any) -> AWSResponse:
        """The HTTP session's `send`: one signed request to the management API."""
        authorization = request.headers.get("Authorization", "")
        assert authorization.startswith("AWS4-HMAC-SHA256 Credential="), authorization
        assert "/execute-api/aws4_request" in authorization, authorization
        connection_id = unquote(urlsplit(request.url).path.rsplit("/", 1)[-1])  # sent quoted
        self.attempts[connection_id] += 1
        burst = self.faults.get(connection_id)
        if burst:
            status = burst.pop(0)
            body = json.dumps({"message": self._ERRORS[status]}).encode()
            headers = {"x-amzn-ErrorType": self._ERRORS[status]}
            return AWSResponse(request.url, status, headers, _Body(body))
        for marked, status, code in (
            (self.gone, 410, "GoneException"),
            (self.forbidden, 403, "ForbiddenException"),
            (self.failing, 500, "InternalServerErrorException"),
        ):
            if connection_id in marked:
                body = json.dumps({"message": code}).encode()
                return AWSResponse(request.url, status, {"x-amzn-ErrorType": code}, _Body(body))
        if request.method == "DELETE":
            self.closed.append(connection_id)
            return AWSResponse(request.url, 204, {}, _Body())
        assert request.method == "POST", request.method
        self.sent.setdefault(connection_id, []).append(json.loads(request.body))
        return AWSResponse(request.url, 200, {}, _Body())

    def frames(self, connection_id: str, frame_type: str | None = None) -> list[dict[str, Any]]:
        frames = self.sent.get(connection_id, [])
        return [frame for frame in frames if frame_type is None or frame.get("type") == frame_type]

    def clear(self) -> None:
        self.sent.clear()


class WebSocketClient:
    """One WebSocket connection, driven through the ws_connect / ws_message handlers."""

    _count = 0

    def __init__(self, sockets: Sockets, token: str | None) -> None:
        WebSocketClient._count += 1
        self.connection_id = f"conn{WebSocketClient._count}="
        self.sockets = sockets
        self.token = token
        self.authorizer: dict[str, Any] | None = None  # requestContext.authorizer, once let in
        self.connected_at = now_ms()  # API Gateway's connectedAt, the same in every event

    def connect(self) -> int:
        """The handshake as API Gateway runs it: identity sources, the authorizer, then
        $connect with the authorizer's context; the HTTP status of the handshake."""
        query = [("token", self.token)] if self.token is not None else []
        if not identity_present(_connect_identity_sources(), query, {}):
            return 401
        try:
            answer = handler_of("WsAuthorizerFunction")(
                ws_authorizer_event(self.connection_id, self.token), LambdaContext()
            )
        except Exception as exc:
            if str(exc) == "Unauthorized":
                return 401
            raise
        if not policy_allows(answer, method_arn(WebSocketConnection(self.connection_id))):
            return 403
        self.authorizer = authorizer_context(answer)
        response = handler_of("WsConnectFunction")(
            ws_connect_event(self.connection_id, self.token, self.authorizer, self.connected_at),
            LambdaContext(),
        )
        return response["statusCode"]

    def disconnect(self) -> None:
        handler_of("WsConnectFunction")(
            ws_disconnect_event(self.connection_id, self.authorizer, self.connected_at),
            LambdaContext(),
        )

    def send_raw(self, body: str, route_key: str = "$default") -> int:
        response = handler_of("WsMessageFunction")(
            ws_message_event(
                self.connection_id, body, route_key, self.authorizer, self.connected_at
            ),
            LambdaContext(),
        )
        return response["statusCode"]

    def send(self, frame: dict[str, Any]) -> int:
        body = json.dumps(frame)
        expression, route_keys = _websocket_routes()
        return self.send_raw(body, select_route(expression, route_keys, body))

    def frames(self, frame_type: str | None = None) -> list[dict[str, Any]]:
        return self.sockets.frames(self.connection_id, frame_type)
