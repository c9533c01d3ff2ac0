"""The REST API (API Gateway REST, Lambda proxy integration) served by aiohttp.

Routes are the functions' `Api` events; requests become proxy events as API Gateway builds
them, and the functions' proxy responses become HTTP responses. What API Gateway itself
answers is mimicked too: 403 `Missing Authentication Token` for unknown routes, 502 for a
failed or malformed integration, the CORS preflight SAM's `Cors` adds, and the headers
`GatewayResponses` add to those answers.
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from local.events import RestRoutes, rest_event
from local.gateway import forwarded_headers
from local.lambda_runtime import InvokeResult
from local.model import RestApiSpec, RestRoute

log = logging.getLogger("local")

Invoke = Callable[[str, dict[str, Any]], Awaitable[InvokeResult]]
MAX_BODY_BYTES = 10 * 1024 * 1024  # API Gateway's payload limit


class RestApi:
    def __init__(self, spec: RestApiSpec, invoke: Invoke):
        self.spec = spec
        self.invoke = invoke
        self.routes = RestRoutes(spec.routes)

    def app(self) -> web.Application:
        app = web.Application(client_max_size=MAX_BODY_BYTES)
        # [\s\S]: a path may hold any character once decoded (%0A too), as API Gateway allows
        app.router.add_route("*", "/{tail:[\\s\\S]*}", self.handle)
        return app

    async def handle(self, request: web.Request) -> web.StreamResponse:
        started = time.monotonic()
        request_id = str(uuid.uuid4())
        found = self.routes.find(request.method, request.raw_path.split("?", 1)[0])
        route, params = found or (None, {})
        if route is None:
            if found is not None and request.method == "OPTIONS" and self.spec.cors is not None:
                return web.Response(
                    status=200, headers={**self.spec.cors, "Content-Type": "application/json"}
                )
            response = self.gateway_error(
                403, "Missing Authentication Token", "MISSING_AUTHENTICATION_TOKEN", request_id
            )
            self._access_log(request, None, response.status, started, False)
            return response
        try:
            body = await request.read()
        except web.HTTPRequestEntityTooLarge:
            response = self.gateway_error(413, "Request Too Long", "REQUEST_TOO_LARGE", request_id)
            self._access_log(request, route, response.status, started, False)
            return response
        event = self.event(request, route, params, body, request_id)
        result = await self.invoke(route.function, event, request_id=request_id)
        response = self.response(result, route, request_id)
        self._access_log(request, route, response.status, started, result.cold_start)
        return response

    def event(
        self,
        request: web.Request,
        route: RestRoute,
        params: dict[str, str],
        body: bytes,
        request_id: str,
    ) -> dict[str, Any]:
        headers, multi_headers = forwarded_headers(
            request,
            [
                ("X-Forwarded-Port", str(request.url.port or "")),
                ("X-Forwarded-Proto", request.scheme),
            ],
        )
        text, is_base64 = _body(body)
        return rest_event(
            request.method,
            route.path,
            request.path,
            headers=headers,
            multi_value_headers=multi_headers,
            query=list(request.query.items()),
            path_parameters=params,
            body=text,
            is_base64=is_base64,
            stage=self.spec.stage,
            api_id=self.spec.api_id,
            request_id=request_id,
            source_ip=request.remote or "127.0.0.1",
            user_agent=request.headers.get("User-Agent"),
            domain_name=request.host,
            protocol=f"HTTP/{request.version.major}.{request.version.minor}",
        )

    def response(self, result: InvokeResult, route: RestRoute, request_id: str) -> web.Response:
        if not result.ok:
            if result.timed_out:
                return self.gateway_error(
                    502, "Endpoint request timed out", "INTEGRATION_TIMEOUT", request_id
                )
            return self.gateway_error(
                502, "Internal server error", "INTEGRATION_FAILURE", request_id
            )
        payload = result.payload
        try:
            status, headers, body = _proxy_response(payload)
        except (TypeError, ValueError, KeyError, binascii.Error) as exc:
            log.error("%s returned a malformed Lambda proxy response: %s", route.function, exc)
            return self.gateway_error(
                502, "Internal server error", "INTEGRATION_FAILURE", request_id
            )
        response = web.Response(status=status, body=body)
        for name, values in headers.items():
            for value in values:
                response.headers.add(name, value)
        if "Content-Type" not in response.headers:
            response.headers["Content-Type"] = "application/json"
        response.headers["x-amzn-RequestId"] = request_id
        return response

    def gateway_error(
        self, status: int, message: str, response_type: str, request_id: str
    ) -> web.Response:
        """An answer of API Gateway itself, with the headers, status and body GatewayResponses
        configure (a body template is served as written: ours hold no $context variables)."""
        family = "DEFAULT_4XX" if status < 500 else "DEFAULT_5XX"
        headers = {
            **self.spec.gateway_headers.get(family, {}),
            **self.spec.gateway_headers.get(response_type, {}),
            "x-amzn-RequestId": request_id,
            "x-amzn-ErrorType": _ERROR_TYPES.get(response_type, "InternalServerErrorException"),
        }
        configured_status, template = self.spec.gateway_answers.get(response_type, (None, None))
        status = configured_status or status
        if template is not None:
            return web.Response(
                status=status, text=template, content_type="application/json", headers=headers
            )
        return web.json_response({"message": message}, status=status, headers=headers)

    def _access_log(
        self,
        request: web.Request,
        route: RestRoute | None,
        status: int,
        started: float,
        cold_start: bool,
    ) -> None:
        # The path only: a query string may carry what must never be logged (a token a
        # client wrongly sends as `?token=`), as API Gateway's access log format here has none.
        target = route.function if route else "-"
        note = ", cold start" if cold_start else ""
        elapsed = (time.monotonic() - started) * 1000
        log.info(
            "REST %s %s -> %s %d (%.0f ms%s)",
            request.method,
            request.path,
            target,
            status,
            elapsed,
            note,
        )


_ERROR_TYPES = {
    "MISSING_AUTHENTICATION_TOKEN": "MissingAuthenticationTokenException",
    "REQUEST_TOO_LARGE": "RequestTooLargeException",
    "INTEGRATION_FAILURE": "InternalServerErrorException",
    "INTEGRATION_TIMEOUT": "InternalServerErrorException",
}


def _body(body: bytes) -> tuple[str | None, bool]:
    if not body:
        return None, False
    try:
        return body.decode("utf-8"), False
    except UnicodeDecodeError:
        return base64.b64encode(body).decode(), True


def _proxy_response(payload: Any) -> tuple[int, dict[str, list[str]], bytes]:
    """statusCode, headers and body of a Lambda proxy response, validated as API Gateway does."""
    if not isinstance(payload, dict):
        raise TypeError(f"expected a JSON object, got {type(payload).__name__}")
    status = int(payload.get("statusCode", 200))
    headers: dict[str, list[str]] = {}
    for name, value in (payload.get("headers") or {}).items():
        headers[name] = [_header_value(value)]
    for name, values in (payload.get("multiValueHeaders") or {}).items():
        headers[name] = [_header_value(value) for value in values]
    body = payload.get("body")
    if body is None:
        data = b""
    elif not isinstance(body, str):
        raise TypeError("body must be a string")
    elif payload.get("isBase64Encoded"):
        data = base64.b64decode(body, validate=True)
    else:
        data = body.encode("utf-8")
    return status, headers, data


def _header_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict | list):
        return json.dumps(value)
    return str(value)
