"""Drive the real handlers in-process: REST routed through template.yaml's own events,
WebSocket events per connection, and a record of what the management API was asked to push."""

from __future__ import annotations

import importlib
import json
from dataclasses import dataclass
from functools import cache
from typing import Any
from urllib.parse import unquote

from botocore.awsrequest import AWSResponse

from local.events import RestRoutes, select_route
from local.model import RestRoute, template_rest_routes
from local.template import load_template, resources_of_type
from tests.support.events import (
    LambdaContext,
    rest_event,
    ws_connect_event,
    ws_disconnect_event,
    ws_message_event,
)


def handler_of(logical_id: str):
    """The lambda_handler of a function of the template (its CodeUri is functions/<dir>)."""
    function = load_template()["Resources"][logical_id]["Properties"]
    module_name, attribute = function["Handler"].rsplit(".", 1)
    code_dir = function["CodeUri"].strip("/").replace("/", ".")
    return getattr(importlib.import_module(f"{code_dir}.{module_name}"), attribute)


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


@dataclass
class HttpResult:
    status: int
    headers: dict[str, str]
    body: Any

    @property
    def error_code(self) -> str | None:
        return self.body.get("error", {}).get("code") if isinstance(self.body, dict) else None


class RestClient:
    """Calls the REST functions the way API Gateway would, chosen by the template's routes."""

    def __init__(self) -> None:
        self.routes = _rest_routes()

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
        response = handler_of(function)(event, LambdaContext(function))
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


class Sockets:
    """Records every PostToConnection of the real management client (a botocore hook),
    and answers 410 Gone for connections marked gone: moto never does."""

    def __init__(self, management_client: Any) -> None:
        self.sent: dict[str, list[dict[str, Any]]] = {}
        self.gone: set[str] = set()
        self.failing: set[str] = set()
        management_client.meta.events.register(
            "before-call.apigatewaymanagementapi.PostToConnection", self._intercept
        )

    def _intercept(self, params: dict[str, Any], model: Any, **_: Any):
        connection_id = unquote(params["url_path"].rsplit("/", 1)[-1])  # sent URL-quoted
        if connection_id in self.gone or connection_id in self.failing:
            status, code = (
                (410, "GoneException")
                if connection_id in self.gone
                else (500, "InternalServerErrorException")
            )
            response = AWSResponse(params["url"], status, {}, None)
            return response, {
                "Error": {"Code": code, "Message": code},
                "ResponseMetadata": {"HTTPStatusCode": status},
            }
        self.sent.setdefault(connection_id, []).append(json.loads(params["body"]))
        return AWSResponse(params["url"], 200, {}, None), {
            "ResponseMetadata": {"HTTPStatusCode": 200}
        }

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

    def connect(self) -> int:
        response = handler_of("WsConnectFunction")(
            ws_connect_event(self.connection_id, self.token), LambdaContext()
        )
        return response["statusCode"]

    def disconnect(self) -> None:
        handler_of("WsConnectFunction")(ws_disconnect_event(self.connection_id), LambdaContext())

    def send_raw(self, body: str, route_key: str = "$default") -> int:
        response = handler_of("WsMessageFunction")(
            ws_message_event(self.connection_id, body, route_key), LambdaContext()
        )
        return response["statusCode"]

    def send(self, frame: dict[str, Any]) -> int:
        body = json.dumps(frame)
        expression, route_keys = _websocket_routes()
        return self.send_raw(body, select_route(expression, route_keys, body))

    def frames(self, frame_type: str | None = None) -> list[dict[str, Any]]:
        return self.sockets.frames(self.connection_id, frame_type)
