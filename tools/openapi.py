"""Print the OpenAPI document of the REST API, generated from the routes (`make openapi`).

Powertools describes the routes, their parameters and the pydantic models' shapes. What it
cannot see is added here, so that a client generated from the document matches the server
(tests/e2e/test_openapi_conformance.py runs schemathesis, every check, on the local stack):

- every error response an operation can give, in the contract's one error shape (`Error`),
  `Retry-After` on 429s (Powertools declares only its own 422 shape);
- the string rules of chat.text_rules and chat.models (no control characters, not only
  invisible characters, a Gemini key's alphabet, reserved usernames, safe file names, an
  emoji's characters) as patterns, read off each field's validators;
- the rules that span fields: a message has text or attachments; `before` and `after` of a
  history page exclude each other.

What no schema can say stays in the contract: a reference to a message or attachment that
does not exist answers 404 or 422 (it depends on the data), an emoji's length is in bytes
(the document allows what fits for sure: 8 characters, or 32 ASCII ones).

A developer tool: it lives outside the deployed layer.
"""

from __future__ import annotations

import copy
import json
import os
import sys
import unicodedata
from collections.abc import Callable, Iterator
from functools import cache
from typing import Annotated, Any, Union, get_args, get_origin

from aws_lambda_powertools.event_handler.openapi.models import HTTPBearer

from chat import models, text_rules
from chat.transport.rest import build_app
from chat.transport.routes import account, attachments, auth, bot, conversation, rooms, search

# The document depends on the code only, never on a deployment's settings; building the
# resolver reads them, so a bare shell gets placeholders (see main()).
_PLACEHOLDERS = {
    **{
        f"{name}_TABLE": "unused"
        for name in ("USERS", "ROOMS", "MEMBERSHIPS", "MESSAGES", "CONNECTIONS", "RATE_LIMITS")
    },
    "JWT_SECRET_ARN": "unused",
    "TOKEN_TTL_SECONDS": "3600",
    "CORS_ALLOW_ORIGIN": "*",
    "DEFAULT_BOT_MODEL": "unused",
    "WEBSOCKET_MANAGEMENT_URL": "https://unused",
}


# The scheme the routes name in `security=BEARER` (chat.transport.rest).
OPENAPI_SECURITY = {"security_schemes": {"bearer": HTTPBearer()}}

# ------------------------------------------------------------------------------ errors
# The contract's error table: status -> (component name, code, when).
ERRORS = {
    "400": ("BadRequest", "bad_request", "The body is not JSON (UTF-8, at most 64 levels, numbers of at most 100 digits) or not application/json."),
    "401": ("Unauthorized", "unauthorized", "Missing, malformed, expired or forged token; bad credentials."),
    "403": ("Forbidden", "forbidden", "Authenticated but not allowed (e.g. a member changing the owner's settings)."),
    "404": ("NotFound", "not_found", "Unknown resource, or a room the caller is not a member of."),
    "409": ("Conflict", "conflict", "The resource's state does not allow it (taken, full, ended, deleted)."),
    "413": ("TooLarge", "too_large", "The body is over 64 KiB."),
    "422": ("ValidationError", "validation_error", "Fields fail validation; `details` lists each field."),
    "429": ("RateLimited", "rate_limited", "A limit was hit (the contract's limits, or the API's throttle); retry after `Retry-After` seconds."),
    "500": ("Internal", "internal", "The service failed; never carries internals."),
}  # fmt: skip
_POWERTOOLS_SCHEMAS = ("HTTPValidationError", "ValidationError", "ResponseValidationError")


def _error_statuses(path: str, method: str, operation: dict[str, Any]) -> list[str]:
    """The errors an operation can answer: the body and limit errors every one can; 401
    where a token (or credentials) is checked; 403, 404, 409 where a room, a message or a
    member is named (in the path, or search's `room_id`); registration and joining can
    conflict."""
    statuses = {"400", "413", "422", "429", "500"}
    if operation.get("security") or path == "/auth/login":
        statuses.add("401")
    if "{" in path:
        statuses |= {"403", "404", "409"}
    if path in ("/rooms/join", "/auth/me", "/search"):  # search: a room_id not the caller's
        statuses.add("404")
    if path in ("/auth/register", "/rooms/join", "/auth/password", "/auth/me"):
        statuses.add("409")  # taken, full; an account changed by a concurrent request
    return sorted(statuses)


def _describe_errors(spec: dict[str, Any]) -> None:
    components = spec.setdefault("components", {})
    schemas = components.setdefault("schemas", {})
    for name in _POWERTOOLS_SCHEMAS:
        schemas.pop(name, None)
    schemas["Error"] = {
        "type": "object",
        "title": "Error",
        "required": ["error"],
        "properties": {
            "error": {
                "type": "object",
                "required": ["code", "message"],
                "properties": {
                    "code": {"type": "string", "enum": [code for _, code, _ in ERRORS.values()]},
                    "message": {"type": "string", "minLength": 1},
                    "details": {
                        "type": "array",
                        "items": {
                            "type": "object",
                            "required": ["field", "message"],
                            "properties": {
                                "field": {"type": "string"},
                                "message": {"type": "string"},
                            },
                        },
                    },
                },
            }
        },
    }
    responses = components.setdefault("responses", {})
    for status, (name, code, when) in ERRORS.items():
        response: dict[str, Any] = {
            "description": f"`{code}`: {when}",
            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
        }
        if status == "429":
            response["headers"] = {
                "Retry-After": {
                    "description": "Seconds to wait before trying again.",
                    "schema": {"type": "integer", "minimum": 1},
                }
            }
        responses[name] = response
    for path, methods in spec["paths"].items():
        for method, operation in methods.items():
            answers = operation["responses"]
            for status in list(answers):
                if status.startswith(("4", "5")):
                    del answers[status]
            for status in _error_statuses(path, method, operation):
                answers[status] = {"$ref": f"#/components/responses/{ERRORS[status][0]}"}


# ------------------------------------------------------------------------------ string rules
def _class(include: Callable[[str], bool]) -> str:
    """A regex character class body of every code point `include` accepts (surrogates
    left out: they are not characters)."""
    ranges: list[tuple[int, int]] = []
    for point in range(sys.maxunicode + 1):
        if 0xD800 <= point <= 0xDFFF or not include(chr(point)):
            continue
        if ranges and ranges[-1][1] == point - 1:
            ranges[-1] = (ranges[-1][0], point)
        else:
            ranges.append((point, point))

    def escape(point: int) -> str:
        return f"\\u{point:04x}" if point <= 0xFFFF else chr(point)

    return "".join(escape(a) if a == b else f"{escape(a)}-{escape(b)}" for a, b in ranges)


@cache
def _classes() -> dict[str, str]:
    def control(ch: str) -> bool:
        return unicodedata.category(ch) == "Cc" and ch < "\xa0"

    def emoji_forbidden(ch: str) -> bool:
        category = unicodedata.category(ch)
        return ch.isspace() or category[0] == "Z" or category == "Cc"

    return {
        "line": _class(control),  # text_rules.single_line
        "multiline": _class(lambda ch: control(ch) and ch not in "\n\t"),  # text_rules.multiline
        "invisible": _class(text_rules.is_invisible),  # text_rules.visible
        "space": _class(str.isspace),  # StringConstraints(strip_whitespace=True)
        "emoji_forbidden": _class(
            emoji_forbidden
        ),  # chat.logic.conversation.reactions.validate_emoji
        "emoji_invisible": _class(lambda ch: unicodedata.category(ch) in ("Cf", "Mn", "Me")),
    }


def _text_pattern(forbidden: str, blank: str | None) -> str:
    """Anchored: no character of `forbidden`; with `blank`, at least one character that is
    neither forbidden nor blank."""
    if blank is None:
        return f"^[^{forbidden}]*$"
    return f"^[^{forbidden}]*[^{forbidden}{blank}][^{forbidden}]*$"


def _validators(annotation: Any, metadata: list[Any]) -> Iterator[Any]:
    """Every pydantic metadata item of a field: its own and its type's (through Annotated,
    Optional and list)."""
    yield from metadata
    if get_origin(annotation) is Annotated:
        _, *extra = get_args(annotation)
        yield from extra
        yield from _validators(get_args(annotation)[0], [])
    elif get_origin(annotation) in (Union, list) or type(annotation).__name__ == "UnionType":
        for arg in get_args(annotation):
            yield from _validators(arg, [])


def _rules(annotation: Any, metadata: list[Any]) -> tuple[set[Callable[..., Any]], bool]:
    """The rule functions of a field's validators, and whether it strips whitespace and
    must not be empty then."""
    functions, stripped = set(), False
    for item in _validators(annotation, metadata):
        if hasattr(item, "func"):
            functions.add(item.func)
        if getattr(item, "strip_whitespace", False) and (getattr(item, "min_length", 0) or 0) > 0:
            stripped = True
    return functions, stripped


# What JSON Schema can say of each rule function; None: nothing to add (checked elsewhere).
_EXPRESSIBLE = {
    text_rules.single_line: "line",
    text_rules.multiline: "multiline",
    text_rules.visible: "visible",
    text_rules.blank_if_invisible: None,  # empty allowed; the body-level rule below
    text_rules.secret: None,  # valid Unicode only
    text_rules.gemini_key: "gemini_key",
    text_rules.not_reserved: "not_reserved",
    models._email: None,  # format: email
    models._integral: None,  # 1024.0 is 1024, as JSON Schema's integer says
    models._safe_filename: "filename",
    models._distinct: "unique",
}
_RESERVED = {
    "anyOf": [
        {"pattern": "^" + "[._-]*".join(f"[{c.upper()}{c}]" for c in name).join(["[._-]*"] * 2) + "$"}
        for name in sorted(text_rules.RESERVED_NAMES)
    ]
}  # fmt: skip


def _string_branch(schema: dict[str, Any]) -> dict[str, Any]:
    if "anyOf" in schema:
        (branch,) = [s for s in schema["anyOf"] if s.get("type") == "string"]
        return branch
    return schema


def _field_rules(field_schema: dict[str, Any], annotation: Any, metadata: list[Any]) -> None:
    functions, stripped = _rules(annotation, metadata)
    unknown = functions - set(_EXPRESSIBLE)
    if unknown:
        raise SystemExit(f"tools/openapi.py: say what {sorted(f.__name__ for f in unknown)} allow")
    names = {_EXPRESSIBLE[f] for f in functions} - {None}
    if "unique" in names:
        names.discard("unique")
        branches = field_schema.get("anyOf", [field_schema])
        for branch in branches:
            if branch.get("type") == "array":
                branch["uniqueItems"] = True
    if not names and not stripped:
        return
    target = _string_branch(field_schema)
    if target.get("type") == "array":
        target = target["items"]
    classes = _classes()
    forbidden = classes["multiline"] if "multiline" in names else classes["line"]
    if names & {"line", "multiline", "visible"} or stripped:
        blank = (
            classes["invisible"] if "visible" in names else classes["space"] if stripped else None
        )
        if "pattern" in target:
            raise SystemExit(f"tools/openapi.py: {target} has a pattern already")
        target["pattern"] = _text_pattern(forbidden, blank)
    if "gemini_key" in names:
        target["pattern"] = "^[\\u0021-\\u007e]{1,256}$"
    if "not_reserved" in names:
        target["not"] = copy.deepcopy(_RESERVED)
    if "filename" in names:
        target["pattern"] = f"^[^{classes['line']}/\\\\]*$"
        target["not"] = {"pattern": "\\.\\."}


def _describe_strings(spec: dict[str, Any]) -> None:
    schemas = spec["components"]["schemas"]
    for name, schema in schemas.items():
        model = getattr(models, name, None)
        if model is None or not issubclass(model, models.Body):
            continue
        for field_name, field in model.model_fields.items():
            if field_name in schema.get("properties", {}):
                _field_rules(schema["properties"][field_name], field.annotation, field.metadata)
    # A message has text (not only invisible characters) or attachments (chat.logic.conversation.messages).
    visible = _text_pattern(_classes()["multiline"], _classes()["invisible"])
    schemas["PostMessageRequest"]["anyOf"] = [
        {"required": ["content"], "properties": {"content": {"pattern": visible}}},
        {"required": ["attachments"], "properties": {"attachments": {"minItems": 1}}},
    ]


def _describe_parameters(spec: dict[str, Any]) -> None:
    for methods in spec["paths"].values():
        for operation in methods.values():
            for parameter in operation.get("parameters", []):
                schema = parameter["schema"]
                if parameter["in"] == "path":
                    schema.setdefault("minLength", 1)
                if parameter["name"] == "emoji":
                    # 1-32 bytes of UTF-8, no whitespace or control characters, not only
                    # invisible ones: what surely fits is a visible character and up to 7
                    # more, or a short code of up to 32 ASCII characters.
                    classes = _classes()
                    one = f"[^{classes['emoji_forbidden']}]"
                    visible = f"[^{classes['emoji_forbidden']}{classes['emoji_invisible']}]"
                    schema["pattern"] = f"^(?:{visible}{one}{{0,7}}|[\\u0021-\\u007e]{{1,32}})$"
    # `before` pages backwards, `after` catches up: one or the other (422 with both).
    history = spec["paths"]["/rooms/{room_id}/messages"]["get"]
    parameters = history["parameters"]
    paging = {p["name"]: p["schema"] for p in parameters if p["in"] == "query"}
    history["parameters"] = [p for p in parameters if p["in"] != "query"] + [
        {
            "name": "page",
            "in": "query",
            "style": "form",
            "explode": True,
            "required": False,
            "schema": {
                "type": "object",
                "properties": paging,
                "not": {"required": ["before", "after"]},
            },
        }
    ]


# ------------------------------------------------------------------------------ the document
def document() -> str:
    app = build_app(
        auth.router,
        account.router,
        rooms.router,
        conversation.router,
        bot.router,
        attachments.router,
        search.router,
    )
    spec = json.loads(
        app.get_openapi_json_schema(
            title="Collaborative AI chat API",
            version="1.0.0",
            description="REST API of the chat backend. The wire contract is docs/API.md.",
            **OPENAPI_SECURITY,
        )
    )
    _describe_errors(spec)
    _describe_strings(spec)
    _describe_parameters(spec)
    return json.dumps(spec, indent=4, ensure_ascii=False)


def main() -> None:
    for name, value in _PLACEHOLDERS.items():
        os.environ.setdefault(name, value)
    print(document())


if __name__ == "__main__":
    main()
