"""The contract's body rules (docs/API.md, below Validation rules), shared by REST bodies
and WebSocket frames: `application/json` in any letter case with any parameters, UTF-8,
at most 64 levels of nesting, no number longer than 100 digits. Anything else is a
``BadRequest`` (400, or an `error` frame), never an exception the transport did not expect.

``loads`` is the one JSON parser for client input. It measures the nesting with a flat
scan before ``json.loads`` runs (so the parser's recursion never gets deep), and checks
numbers through ``parse_int``/``parse_float`` before Python converts them (so a
5,000-digit integer never reaches ``int()``). NaN and Infinity are not JSON.
"""

from __future__ import annotations

import base64
import binascii
import json
import math
import re
from collections.abc import Mapping
from itertools import accumulate
from typing import Any

from chat.errors import BadRequest, ValidationFailed

MAX_DEPTH = 64
MAX_NUMBER_DIGITS = 100
JSON_CONTENT_TYPE = "application/json"

# A complete JSON string (escapes included): its brackets are not structure.
_STRING = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"', re.DOTALL)
_NOT_BRACKET = re.compile(r"[^\[\]{}]+")


# ------------------------------------------------------------------------------ JSON
def nesting_depth(text: str) -> int:
    """The deepest nesting of arrays and objects in ``text`` (an upper bound for text that
    is not valid JSON); linear, without recursion."""
    brackets = _NOT_BRACKET.sub("", _STRING.sub('""', text))
    if not brackets:
        return 0
    return max(accumulate(1 if ch in "[{" else -1 for ch in brackets))


def _number(literal: str) -> str:
    if sum(ch.isdigit() for ch in literal) > MAX_NUMBER_DIGITS:
        raise BadRequest(f"Numbers are limited to {MAX_NUMBER_DIGITS} digits")
    return literal


def _int(literal: str) -> int:
    return int(_number(literal))


def _float(literal: str) -> float:
    value = float(_number(literal))
    if not math.isfinite(value):
        raise BadRequest("Numbers must be finite")
    return value


def _constant(name: str) -> Any:
    raise BadRequest(f"{name} is not JSON")


def check_unicode(text: str) -> str:
    """``text`` if it is valid Unicode (lone surrogates cannot be UTF-8)."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise BadRequest("Body is not valid UTF-8") from exc
    return text


def loads(text: str | bytes, what: str = "Body") -> Any:
    """Parse client JSON under the body rules; BadRequest for anything else."""
    if isinstance(text, bytes):
        text = decode_utf8(text, what)
    check_unicode(text)
    if nesting_depth(text) > MAX_DEPTH:
        raise BadRequest(f"{what} nests deeper than {MAX_DEPTH} levels")
    try:
        return json.loads(text, parse_int=_int, parse_float=_float, parse_constant=_constant)
    except (ValueError, RecursionError) as exc:
        raise BadRequest(f"{what} is not valid JSON") from exc


def decode_utf8(data: bytes, what: str = "Body") -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise BadRequest(f"{what} is not valid UTF-8") from exc


# ------------------------------------------------------------------------------ REST
def is_json_content_type(value: str) -> bool:
    """`application/json` in any letter case, with any parameters."""
    return value.split(";", 1)[0].strip().lower() == JSON_CONTENT_TYPE


def _header_keys(headers: dict[str, Any] | None, name: str) -> list[str]:
    return [key for key in (headers or {}) if key.lower() == name]


def check_rest_event(event: Mapping[str, Any]) -> dict[str, Any]:
    """The API Gateway event with its body checked against the body rules and its body and
    Content-Type made plain for the resolver (UTF-8 text, `application/json`); BadRequest
    when a rule is broken. A request without a body may carry any Content-Type."""
    headers = dict(event.get("headers") or {})
    multi = dict(event.get("multiValueHeaders") or {})
    keys = _header_keys(headers, "content-type")
    content_type = str(headers[keys[-1]]) if keys else ""
    body = event.get("body")
    if body and event.get("isBase64Encoded"):
        try:
            body = decode_utf8(base64.b64decode(body, validate=True))
        except (binascii.Error, ValueError) as exc:
            raise BadRequest("Body is not valid UTF-8") from exc
    if body:
        if content_type and not is_json_content_type(content_type):
            raise BadRequest("Content-Type must be application/json")
        if not isinstance(loads(body), dict):  # every REST body of the contract is an object
            raise ValidationFailed(
                "Request validation failed",
                details=[{"field": "body", "message": "must be a JSON object"}],
            )
    for key in keys:
        del headers[key]
    for key in _header_keys(multi, "content-type"):
        del multi[key]
    if body:  # the resolver then parses it as JSON (what the rules above allowed)
        headers["Content-Type"] = JSON_CONTENT_TYPE
        multi["Content-Type"] = [JSON_CONTENT_TYPE]
    return {
        **event,
        "headers": headers,
        "multiValueHeaders": multi,
        "body": body,
        "isBase64Encoded": False,
    }
