"""The REST transport: the resolver every REST function uses, authentication, and the one
place where domain errors become HTTP responses in the contract's error shape."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from http import HTTPStatus
from typing import TYPE_CHECKING, Annotated, Any, cast

from aws_lambda_powertools.event_handler import (
    APIGatewayRestResolver,
    CORSConfig,
    Request,
    Response,
)
from aws_lambda_powertools.event_handler.api_gateway import Router
from aws_lambda_powertools.event_handler.depends import Depends
from aws_lambda_powertools.event_handler.middlewares.openapi_validation import (
    OpenAPIRequestValidationMiddleware,
)
from aws_lambda_powertools.event_handler.openapi.exceptions import (
    RequestUnsupportedContentType,
    RequestValidationError,
)
from aws_lambda_powertools.metrics import MetricUnit

from chat import redaction
from chat.config import settings
from chat.errors import ChatError, RateLimited, TooLarge
from chat.logic.accounts import revocation
from chat.models import ErrorBody, ErrorResponse
from chat.observability import logger, metrics
from chat.principal import Principal
from chat.transport import body_rules

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.data_classes import APIGatewayProxyEvent

MAX_BODY_BYTES = 64 * 1024

_STATUS = {
    "bad_request": HTTPStatus.BAD_REQUEST,
    "unauthorized": HTTPStatus.UNAUTHORIZED,
    "forbidden": HTTPStatus.FORBIDDEN,
    "not_found": HTTPStatus.NOT_FOUND,
    "conflict": HTTPStatus.CONFLICT,
    "too_large": HTTPStatus.REQUEST_ENTITY_TOO_LARGE,
    "validation_error": HTTPStatus.UNPROCESSABLE_ENTITY,
    "rate_limited": HTTPStatus.TOO_MANY_REQUESTS,
    "internal": HTTPStatus.INTERNAL_SERVER_ERROR,
}

# The routes name the scheme; tools/openapi.py declares it (the OpenAPI models stay off the
# handlers' import path: 80-115 ms of cold start).
BEARER: list[dict[str, list[str]]] = [{"bearer": []}]


def error_body(
    code: str, message: str, details: list[dict[str, Any]] | None = None
) -> dict[str, Any]:
    """The contract's error body: `{"error": {"code", "message", "details"?}}`; the message
    is redacted (chat.redaction), as it may quote what a library said about a secret."""
    error = ErrorBody(code=code, message=redaction.redact(message), details=details or None)
    return ErrorResponse(error=error).model_dump(exclude_none=True)


def error_response(
    code: str,
    message: str,
    details: list[dict[str, Any]] | None = None,
    headers: dict[str, str] | None = None,
) -> Response:
    return Response(
        status_code=_STATUS.get(code, HTTPStatus.INTERNAL_SERVER_ERROR),
        content_type="application/json",
        body=error_body(code, message, details),
        headers=headers,
    )


def allowed_origin() -> str:
    """The browsers' origin the REST API answers (CORS)."""
    origin = settings().cors_allow_origin
    if origin is None:  # the REST functions require it at cold start (require_settings)
        raise RuntimeError("CORS_ALLOW_ORIGIN is not set for this function")
    return origin


def bearer_token(authorization: str | None) -> str | None:
    """The token of an `Authorization: Bearer <token>` header value."""
    if not authorization:
        return None
    scheme, _, token = authorization.strip().partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()


_CALLER = "caller"  # the resolver's context key of the request's authenticated principal


def caller_of(context: dict[str, Any], headers: Mapping[str, str]) -> Principal:
    """The caller of the request being resolved, from its bearer token: checked once per
    request (its signature, then whether it was revoked: one read), and kept in the
    resolver's context, which Powertools clears after each request."""
    principal = context.get(_CALLER)
    if principal is None:
        principal = revocation.authenticate(bearer_token(headers.get("authorization")))
        context[_CALLER] = principal
    return principal


def authenticate(request: Request) -> Principal:
    """Dependency of every authenticated route: the caller, from the bearer token."""
    return caller_of(request.context, request.resolved_event.headers)


# A route's caller: the principal of its bearer token (401 without a valid one).
Caller = Annotated[Principal, Depends(authenticate)]


def client_address(request: Request) -> str:
    """Dependency: the caller's address as API Gateway saw it (`sourceIp`), from the request
    being resolved (not the router's, which another resolver may share)."""
    event = cast("APIGatewayProxyEvent", request.resolved_event)
    return event.request_context.identity.source_ip


def _field(loc: tuple | list) -> str:
    # ("body", "username") -> "username"; ("query", "limit") -> "limit"
    parts = [str(part) for part in loc if part not in ("body", "query", "path", "header")]
    return ".".join(parts) or "body"


# A path id that cannot be an id names nothing: 404, as an unknown id is (and as a room the
# caller is not a member of is, so room ids cannot be probed).
_NOT_FOUND = {"room_id": "Room not found", "message_id": "Message not found"}


def _unknown_in_path(errors: list[dict[str, Any]]) -> str | None:
    for error in errors:
        loc = tuple(error.get("loc", ()))
        if loc[:1] == ("path",):
            return _NOT_FOUND.get(str(loc[1]) if len(loc) > 1 else "", "Not found")
    return None


def _body_bytes(event: Mapping[str, Any]) -> int:
    body = event.get("body") or ""
    if event.get("isBase64Encoded"):
        return len(body) * 3 // 4
    return len(body.encode("utf-8", "surrogatepass"))


# On every response (docs/API.md, Conventions): no browser guesses another type for a
# body, and no cache keeps one (every answer is one user's). API Gateway's own answers get
# them from the template's GatewayResponses.
SECURITY_HEADERS = {"X-Content-Type-Options": "nosniff", "Cache-Control": "no-store"}


def with_security_headers(response: dict[str, Any]) -> dict[str, Any]:
    """A Lambda proxy response with SECURITY_HEADERS set, in whichever header map it uses."""
    if "multiValueHeaders" in response:
        multi = dict(response.get("multiValueHeaders") or {})
        for name, value in SECURITY_HEADERS.items():
            multi[name] = [value]
        response["multiValueHeaders"] = multi
        headers = response.get("headers")
        if headers:
            response["headers"] = {**headers, **SECURITY_HEADERS}
    else:
        response["headers"] = {**(response.get("headers") or {}), **SECURITY_HEADERS}
    return response


class ChatResolver(APIGatewayRestResolver):
    """The REST resolver, refusing oversized bodies and bodies that break the body rules
    (chat.transport.body_rules) before anything parses them (Powertools validates a body
    before any middleware runs), and adding SECURITY_HEADERS to every response."""

    def resolve(self, event: Mapping[str, Any], context: Any) -> dict[str, Any]:
        try:
            if _body_bytes(event) > MAX_BODY_BYTES:
                raise TooLarge(f"Request bodies are limited to {MAX_BODY_BYTES // 1024} KiB")
            event = body_rules.check_rest_event(event)
        except ChatError as exc:
            return with_security_headers(
                {
                    "statusCode": _STATUS[exc.code].value,
                    "headers": {
                        "Content-Type": "application/json",
                        "Access-Control-Allow-Origin": allowed_origin(),
                    },
                    "body": json.dumps(error_body(exc.code, exc.message, exc.details)),
                    "isBase64Encoded": False,
                }
            )
        return with_security_headers(super().resolve(event, context))

    @staticmethod
    def _compile_regex(rule: str, base_regex: str = "^{}/*$") -> re.Pattern[str]:
        # A path parameter is any non-empty segment. API Gateway hands over the decoded
        # path, and a reaction's emoji (👍) is no word character Powertools would accept.
        return re.compile(base_regex.format(re.sub(r"<(\w+)>", r"(?P<\1>[^/]+)", rule)))


class _AuthenticatedFirst(OpenAPIRequestValidationMiddleware):
    """Powertools validates a request before any dependency of its route runs; a route that
    needs a token checks it first here, so a request without a valid one is 401 whatever
    its body says (a client learns it must log in, not how to fix a body)."""

    def handler(self, app: Any, next_middleware: Any) -> Response:
        route = app.context.get("_route")
        if route is not None and route.security:
            caller_of(app.context, app.current_event.headers)
        return super().handler(app, next_middleware)


def build_app(*routers: Router) -> APIGatewayRestResolver:
    app = ChatResolver(
        enable_validation=True,
        cors=CORSConfig(
            allow_origin=allowed_origin(),
            allow_headers=["Authorization", "Content-Type"],
            max_age=600,
        ),
    )
    # Powertools makes this middleware on first use unless the app has one already.
    app._request_validation_middleware = _AuthenticatedFirst()
    for router in routers:
        app.include_router(router)

    @app.exception_handler(ChatError)
    def _domain_error(exc: ChatError) -> Response:
        headers = {"Retry-After": str(exc.retry_after)} if isinstance(exc, RateLimited) else None
        if exc.code == "internal":
            logger.warning("request failed", extra={"error": exc.message})
        return error_response(exc.code, exc.message, exc.details, headers)

    @app.exception_handler(RequestValidationError)
    def _invalid_request(exc: RequestValidationError) -> Response:
        errors = list(exc.errors())
        unknown = _unknown_in_path(errors)
        if unknown:  # the caller was authenticated first (_AuthenticatedFirst)
            return error_response("not_found", unknown)
        if any(error.get("type") == "json_invalid" for error in errors):
            return error_response("bad_request", "Body is not valid JSON")
        if any(
            tuple(error.get("loc", ())) == ("body",) and error.get("type") == "missing"
            for error in errors
        ):
            return error_response("bad_request", "A JSON body is required")
        details = [
            {"field": _field(error.get("loc", ())), "message": error.get("msg", "invalid")}
            for error in errors
        ]
        return error_response("validation_error", "Request validation failed", details)

    @app.exception_handler(RequestUnsupportedContentType)
    def _wrong_content_type(exc: RequestUnsupportedContentType) -> Response:
        return error_response("bad_request", "Content-Type must be application/json")

    @app.not_found
    def _no_route(exc: Exception) -> Response:
        return error_response("not_found", "No such route")

    @app.exception_handler(Exception)
    def _unexpected(exc: Exception) -> Response:
        logger.exception("unhandled error")
        metrics.add_metric(name="UnhandledErrors", unit=MetricUnit.Count, value=1)
        return error_response("internal", "Internal error")

    return app
