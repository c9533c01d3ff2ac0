"""Property-based fuzzing of the handlers on moto: whatever arrives, REST answers in the
contract's shape and never with a 5xx, and every WebSocket frame is answered.

- Schemathesis generates requests from docs/openapi.json, fitting the schema and not, for
  every route (conversation, bot control and attachments included), its path parameters
  often naming the world's real room, messages (a text, a bot command, the bot's answer)
  and attachment.
- Hypothesis generates hostile raw bodies (any content type, nesting, huge numbers, bytes
  that are not UTF-8, lone surrogates) for every route with a body, and client frames of
  every type with the fields of every frame (replies, attachments, bot control).

Bounded and reproducible: a fixed seed, no example database, a fixed number of examples
(each test runs in well under a minute).
"""

from __future__ import annotations

import base64
import json
import re
from pathlib import Path
from typing import Any

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, assume, given, seed, settings
from hypothesis import strategies as st
from schemathesis.core import NotSet
from schemathesis.generation import GenerationMode

from tests.support.clients import HttpResult, RestClient, handler_of
from tests.support.events import LambdaContext, rest_event

ROOT = Path(__file__).resolve().parents[2]
SCHEMA = schemathesis.openapi.from_path(ROOT / "docs" / "openapi.json")
SEED = 20261123

STATUS_OF_CODE = {
    "bad_request": 400,
    "unauthorized": 401,
    "forbidden": 403,
    "not_found": 404,
    "conflict": 409,
    "too_large": 413,
    "validation_error": 422,
    "rate_limited": 429,
}

FUZZ = settings(
    max_examples=300,
    deadline=None,
    database=None,
    suppress_health_check=[
        HealthCheck.function_scoped_fixture,
        HealthCheck.too_slow,
        HealthCheck.filter_too_much,
        HealthCheck.data_too_large,
    ],
)


def assert_contract(result: HttpResult) -> None:
    """No 5xx; an error in the one error shape, its code matching its status; never a body a
    browser may sniff or a cache may keep."""
    assert result.status < 500, result.body
    assert result.headers.get("x-content-type-options") == "nosniff", result.headers
    assert result.headers.get("cache-control") == "no-store", result.headers
    if result.status >= 400:
        body = result.body
        assert isinstance(body, dict) and set(body) == {"error"}, body
        error = body["error"]
        assert set(error) <= {"code", "message", "details"}, error
        assert isinstance(error["message"], str) and error["message"], error
        assert STATUS_OF_CODE[error["code"]] == result.status, (result.status, error)
        if "details" in error:
            assert all({"field", "message"} <= set(d) for d in error["details"]), error
        if result.status == 429:
            assert int(result.headers["retry-after"]) >= 1
    elif result.status != 204:
        assert isinstance(result.body, dict), result.body


@pytest.fixture
def world(rest, room_with, gemini, stack) -> dict[str, Any]:
    """A member with a room holding a text message, a bot command with its answer, and an
    uploaded attachment, so generated requests can reach past the membership check and
    name things that exist."""
    from tests.integration.test_bot_worker import deliver

    room, tokens = room_with("alice", "bob")
    token = tokens["alice"]
    room_id = room["room_id"]
    assert rest.put(f"/rooms/{room_id}/bot", {"gemini_api_key": "AIza-fuzz"}, token=token).status
    text = rest.post(f"/rooms/{room_id}/messages", {"content": "hello"}, token=token).body
    command = rest.post(f"/rooms/{room_id}/messages", {"content": "@bot hi"}, token=token).body
    assert deliver(stack) == []
    history = rest.get(f"/rooms/{room_id}/messages", token=token).body["messages"]
    (answer,) = [m for m in history if m["message_type"] == "bot"]
    declared = rest.post(
        f"/rooms/{room_id}/attachments",
        {"filename": "notes.txt", "content_type": "text/plain", "size": 5},
        token=token,
    ).body
    form = declared["upload"]
    files = {"file": ("n", b"notes")}
    uploaded = requests.post(form["url"], data=form["fields"], files=files, timeout=10)
    assert uploaded.status_code == 204
    return {
        "room_id": room_id,
        "code": room["code"],
        "token": token,
        "message_ids": [text["message_id"], command["message_id"], answer["message_id"]],
        "attachment_id": declared["attachment_id"],
    }


def call(
    rest: RestClient,
    method: str,
    path: str,
    headers: dict[str, str],
    body: str | None,
    is_base64: bool = False,
    query: dict[str, str] | None = None,
) -> HttpResult:
    """Call the function API Gateway would route to, with the body exactly as given."""
    resource, logical_id = rest.resolve(method, path)
    event = rest_event(method, resource, path, raw_body="", headers=headers, query=query)
    event["body"], event["isBase64Encoded"] = body, is_base64
    response = handler_of(logical_id)(event, LambdaContext(logical_id))
    parsed = json.loads(response["body"]) if response.get("body") else None
    headers_out = {k.lower(): v for k, v in (response.get("headers") or {}).items()}
    for key, values in (response.get("multiValueHeaders") or {}).items():
        headers_out.setdefault(key.lower(), values[-1])
    return HttpResult(response["statusCode"], headers_out, parsed)


def _path_ok(value: Any) -> bool:
    text = str(value)
    return bool(text) and not re.search(r"[/?#%\s]", text)


# ------------------------------------------------------------------------------ schemathesis
@seed(SEED)
@FUZZ
@given(
    case=st.one_of(
        SCHEMA.as_strategy(GenerationMode.POSITIVE), SCHEMA.as_strategy(GenerationMode.NEGATIVE)
    ),
    own_room=st.booleans(),
    real_message=st.sampled_from([None, 0, 1, 2]),
    authenticated=st.booleans(),
)
def test_generated_requests_get_contract_answers(
    rest: RestClient, world, case, own_room, real_message, authenticated
):
    path_parameters = dict(case.path_parameters or {})
    if own_room and "room_id" in path_parameters:
        path_parameters["room_id"] = world["room_id"]
    if real_message is not None and "message_id" in path_parameters:
        path_parameters["message_id"] = world["message_ids"][real_message]
    assume(all(_path_ok(value) for value in path_parameters.values()))
    path = case.path.format(**{key: str(value) for key, value in path_parameters.items()})
    # Leaving would end the world's membership for every later example.
    assume(not (case.method.upper() == "DELETE" and path.endswith("/members/me") and own_room))
    headers = {key: str(value) for key, value in (case.headers or {}).items()}
    if authenticated:
        headers["Authorization"] = f"Bearer {world['token']}"
    query = {
        key: str(value[-1] if isinstance(value, list) and value else value)
        for key, value in (case.query or {}).items()
    }
    is_base64 = isinstance(case.body, bytes)
    if isinstance(case.body, NotSet):
        body = None
    elif is_base64:
        body = base64.b64encode(case.body).decode()
    else:
        body = json.dumps(case.body, default=str)
    assert_contract(call(rest, case.method.upper(), path, headers, body, is_base64, query or None))


# ------------------------------------------------------------------------------ raw bodies
ROUTES_WITH_BODIES = [
    ("POST", "/auth/register"),
    ("POST", "/auth/login"),
    ("POST", "/rooms"),
    ("POST", "/rooms/join"),
    ("POST", "/rooms/{room_id}/invite"),
    ("PUT", "/rooms/{room_id}/bot"),
    ("POST", "/rooms/{room_id}/messages"),
    ("PATCH", "/rooms/{room_id}"),
    ("PATCH", "/rooms/{room_id}/messages/{message_id}"),
    ("PUT", "/rooms/{room_id}/read"),
    ("POST", "/rooms/{room_id}/attachments"),
    ("POST", "/rooms/{room_id}/messages/{message_id}/stop"),
    ("POST", "/rooms/{room_id}/messages/{message_id}/regenerate"),
    ("PUT", "/rooms/{room_id}/messages/{message_id}/reactions/{emoji}"),
]

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(),
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(
            st.sampled_from(
                [
                    "content",
                    "name",
                    "username",
                    "password",
                    "code",
                    "gemini_api_key",
                    "reply_to",
                    "attachments",
                    "client_id",
                    "message_id",
                    "filename",
                    "content_type",
                    "size",
                ]
            )
            | st.text(max_size=8),
            children,
            max_size=4,
        )
    ),
    max_leaves=12,
)


@st.composite
def hostile_bodies(draw) -> tuple[str | None, bool]:
    """(body as API Gateway passes it, isBase64Encoded)."""
    kind = draw(
        st.sampled_from(["json", "nested", "digits", "text", "surrogate", "bytes", "empty"])
    )
    if kind == "json":
        return json.dumps(draw(json_values)), False
    if kind == "nested":
        depth = draw(st.integers(min_value=60, max_value=20_000))
        opener = draw(st.sampled_from(["[", '{"a":']))
        closer = "]" if opener == "[" else "}"
        return opener * depth + "1" + closer * draw(st.integers(0, depth)), False
    if kind == "digits":
        digits = "9" * draw(st.integers(min_value=90, max_value=6000))
        form = draw(st.sampled_from(["{0}", "-{0}", "0.{0}", "1e{0}", "{0}.5e-{0}"]))
        return '{"content": ' + form.format(digits) + ', "name": "x"}', False
    if kind == "text":
        return draw(st.text(max_size=200)), False
    if kind == "surrogate":
        return '{"content": "' + draw(
            st.sampled_from(["\ud800", "\\ud800", "\udfff"])
        ) + '"}', False
    if kind == "bytes":
        return base64.b64encode(draw(st.binary(max_size=200))).decode(), True
    return draw(st.sampled_from([None, "", " "])), False


content_types = st.sampled_from(
    [
        "application/json",
        "APPLICATION/JSON; charset=utf-8",
        "multipart/form-data",
        "multipart/form-data; boundary=",
        "multipart/form-data; boundary=xyz",
        "application/x-www-form-urlencoded",
        "text/plain",
        "",
        "application/json\x00",
    ]
) | st.text(max_size=30)


@seed(SEED)
@FUZZ
@given(
    route=st.sampled_from(ROUTES_WITH_BODIES),
    body=hostile_bodies(),
    content_type=content_types,
    authorization=st.none() | st.text(max_size=40) | st.just("Bearer \xff\xfe"),
    message=st.sampled_from([0, 1, 2]),
)
def test_hostile_raw_bodies_get_contract_answers(
    rest: RestClient, world, route, body, content_type, authorization, message
):
    method, template = route
    path = (
        template.replace("{room_id}", world["room_id"])
        .replace("{message_id}", world["message_ids"][message])
        .replace("{emoji}", "%F0%9F%91%8D")
    )
    headers = {"Content-Type": content_type}
    headers["Authorization"] = (
        f"Bearer {world['token']}" if authorization is None else authorization
    )
    assert_contract(call(rest, method, path, headers, *body))


# ------------------------------------------------------------------------------ frames
FRAME_TYPES = [
    "join",
    "leave",
    "message",
    "typing",
    "ping",
    "bot_stop",
    "nope",
    "$connect",
    "$disconnect",
    "$default",
    1,
    None,
]


@st.composite
def frames(draw, world: dict[str, Any]) -> str:
    kind = draw(st.sampled_from(["object", "json", "nested", "digits", "text"]))
    if kind == "object":
        frame: dict[str, Any] = {"type": draw(st.sampled_from(FRAME_TYPES))}
        message_ids = st.sampled_from(world["message_ids"])
        if draw(st.booleans()):
            frame["room_id"] = draw(st.just(world["room_id"]) | st.text(max_size=70))
        if draw(st.booleans()):
            frame["content"] = draw(st.text(max_size=50) | st.just("@bot hi") | st.just("\u200b"))
        if draw(st.booleans()):
            frame["is_typing"] = draw(json_values)
        if draw(st.booleans()):  # bot_stop's target, a reply's target
            key = draw(st.sampled_from(["message_id", "reply_to"]))
            frame[key] = draw(message_ids | st.text(max_size=70) | json_values)
        if draw(st.booleans()):
            frame["attachments"] = draw(
                st.lists(st.just(world["attachment_id"]) | st.text(max_size=70), max_size=6)
                | json_values
            )
        if draw(st.booleans()):
            frame["client_id"] = draw(st.text(max_size=80) | json_values)
        if draw(st.booleans()):
            frame[draw(st.text(max_size=5))] = draw(json_values)
        return json.dumps(frame)
    if kind == "json":
        return json.dumps(draw(json_values))
    if kind == "nested":
        depth = draw(st.integers(min_value=60, max_value=10_000))
        return '{"type": "ping", "x": ' + "[" * depth + "]" * depth + "}"
    if kind == "digits":
        return '{"type": "ping", "x": ' + "1" * draw(st.integers(90, 6000)) + "}"
    return draw(st.text(max_size=100))


def _is_quiet(body: str) -> bool:
    """A valid typing frame (or a join/leave echo to others) is the one frame the contract
    does not answer to its sender: others get `typing`."""
    try:
        frame = json.loads(body)
    except (ValueError, RecursionError):
        return False
    return isinstance(frame, dict) and frame.get("type") == "typing"


@seed(SEED)
@FUZZ
@given(data=st.data())
def test_every_frame_is_answered_with_a_frame(world, connect, data):
    client = connect(world["token"])
    body = data.draw(frames(world))
    before = len(client.frames())
    status = client.send_raw(body)  # an exception here fails the test
    assert status == 200
    answered = client.frames()[before:]
    if not _is_quiet(body) or any(f["type"] == "error" for f in answered):
        assert answered, body[:200]
    for frame in answered:
        if frame["type"] == "error":
            assert set(frame) == {"type", "code", "message", "request_type"}, frame
            assert frame["code"] in STATUS_OF_CODE or frame["code"] == "internal", frame
            assert frame["code"] != "internal", frame
