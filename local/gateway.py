"""How API Gateway hands an HTTP request's headers to Lambda (REST and WebSocket alike)."""

from __future__ import annotations

from collections.abc import Iterable

from aiohttp import web


def forwarded_headers(
    request: web.Request, extra: Iterable[tuple[str, str]] = ()
) -> tuple[dict[str, str], dict[str, list[str]]]:
    """`headers` and `multiValueHeaders`, with the X-Forwarded-* headers API Gateway adds."""
    headers: dict[str, str] = {}
    multi_headers: dict[str, list[str]] = {}
    for name, value in request.headers.items():
        headers[name] = value
        multi_headers.setdefault(name, []).append(value)
    for name, value in (("X-Forwarded-For", request.remote or "127.0.0.1"), *extra):
        headers.setdefault(name, value)
        multi_headers.setdefault(name, [value])
    return headers, multi_headers
