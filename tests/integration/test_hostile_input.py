"""Hostile input: the contract's validation and body rules
(docs/API.md, Validation rules) on every route and frame, never a 500 or a silent frame."""

from __future__ import annotations

import base64
import json

import pytest

ROUTES_WITH_BODIES = [
    ("POST", "/auth/register"),
    ("POST", "/auth/login"),
    ("POST", "/rooms"),
    ("POST", "/rooms/join"),
    ("POST", "/rooms/{room}/invite"),
    ("PUT", "/rooms/{room}/bot"),
    ("POST", "/rooms/{room}/messages"),
]


def _error_shape(result) -> None:
    assert isinstance(result.body, dict) and set(result.body) == {"error"}, result.body
    assert isinstance(result.body["error"]["code"], str)
    assert isinstance(result.body["error"]["message"], str)


@pytest.fixture
def alice(room_with):
    room, tokens = room_with("alice")
    return room["room_id"], tokens["alice"]


# ------------------------------------------------------------------------------ class 2
@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/auth/register", {"username": "mallory", "password": "abc\ud800defghij"}),
        ("/auth/login", {"username": "mallory", "password": "abc\ud800defghij"}),
        ("/auth/register", {"username": "mallory", "password": "abc\x00defghij"}),
    ],
)
def test_lone_surrogates_and_nul_in_secrets_are_422(rest, path, body):
    result = rest.post(path, raw_body=json.dumps(body))
    assert result.status == 422, result.body
    assert result.error_code == "validation_error"
    assert result.body["error"]["details"][0]["field"] == "password"


@pytest.mark.parametrize(
    "key",
    [
        "AIzaKEY\n",
        "\nAIzaKEY",
        "AIza\ud800",
        "AIza\nnewline",
        "AIza\r\nX-Injected: 1",
        "AIza\x00",
        "AIzaé",
        "AIza key",
        "",
    ],
)
def test_gemini_keys_must_be_printable_ascii(rest, alice, key):
    room_id, token = alice
    body = json.dumps({"gemini_api_key": key})
    for method, path in (("PUT", f"/rooms/{room_id}/bot"), ("POST", "/rooms")):
        raw = body if method == "PUT" else json.dumps({"name": "r", "gemini_api_key": key})
        result = rest.call(method, path, raw_body=raw, token=token)
        assert result.status == 422, (path, result.body)
        assert result.body["error"]["details"][0]["field"] == "gemini_api_key"


def test_a_key_of_256_printable_characters_is_accepted(rest, alice):
    room_id, token = alice
    key = "".join(chr(33 + i % 94) for i in range(256))
    result = rest.put(f"/rooms/{room_id}/bot", {"gemini_api_key": key}, token=token)
    assert result.status == 200, result.body
    assert (
        rest.put(f"/rooms/{room_id}/bot", {"gemini_api_key": key + "x"}, token=token).status == 422
    )


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("content", "hi\ud800"),
        ("content", "hi\x00there"),
        ("content", "bell\x07"),
        ("content", "\u200b\u200c\u200d\ufeff"),
        ("content", " \u200b \n\t"),
    ],
)
def test_message_content_rules(rest, alice, field, value):
    room_id, token = alice
    raw = json.dumps({field: value})
    result = rest.call("POST", f"/rooms/{room_id}/messages", raw_body=raw, token=token)
    assert result.status == 422, result.body
    assert result.body["error"]["details"][0]["field"] == field


def test_content_keeps_newlines_and_tabs(rest, alice):
    room_id, token = alice
    result = rest.post(f"/rooms/{room_id}/messages", {"content": "a\n\tb"}, token=token)
    assert result.status == 201, result.body
    assert result.body["content"] == "a\n\tb"


@pytest.mark.parametrize("name", ["tab\there", "new\nline", "nul\x00", "\u200b"])
def test_room_names_take_no_control_characters(rest, alice, name):
    _, token = alice
    result = rest.call("POST", "/rooms", raw_body=json.dumps({"name": name}), token=token)
    assert result.status == 422, result.body


@pytest.mark.parametrize(
    "username", ["b-o-t", "_bot", "Bot.", "B.O.T", "s_y_s_t_e_m", "SYSTEM-", "bot", "System"]
)
def test_reserved_names_in_look_alike_forms(rest, username):
    result = rest.post("/auth/register", {"username": username, "password": "long enough pw"})
    assert result.status == 422, result.body
    assert result.body["error"]["details"][0]["field"] == "username"


def test_names_that_only_contain_bot_are_fine(rest):
    for username in ("botany", "robot", "bot_fan"):
        result = rest.post("/auth/register", {"username": username, "password": "long enough pw"})
        assert result.status == 201, (username, result.body)


# ------------------------------------------------------------------------------ class 3
@pytest.mark.parametrize(
    "content_type",
    [
        "multipart/form-data",
        "multipart/form-data; boundary=",
        "application/x-www-form-urlencoded",
        "text/plain",
        "application/jsonx",
        "",
    ],
)
@pytest.mark.parametrize(("method", "path"), ROUTES_WITH_BODIES)
def test_bodies_of_other_content_types_are_400(rest, alice, content_type, method, path):
    room_id, token = alice
    result = rest.call(
        method,
        path.format(room=room_id),
        raw_body="username=x&password=y",
        headers={"Content-Type": content_type},
        token=token,
    )
    assert result.status == 400, result.body
    assert result.error_code == "bad_request"
    _error_shape(result)


@pytest.mark.parametrize(
    "content_type", ["APPLICATION/JSON", "Application/Json; charset=UTF-8", "application/json;x=1"]
)
def test_json_content_type_in_any_case_with_parameters(rest, content_type):
    body = json.dumps({"username": "carol", "password": "long enough pw"})
    result = rest.call(
        "POST", "/auth/register", raw_body=body, headers={"Content-Type": content_type}
    )
    assert result.status == 201, result.body


# ------------------------------------------------------------------------------ class 4
HOSTILE_BODIES = {
    "nested 1000": "[" * 1000 + "]" * 1000,
    "nested 60000": "[" * 60_000,
    "nested objects": '{"a":' * 65 + "1" + "}" * 65,
    "5000 digit integer": '{"content": ' + "9" * 5000 + "}",
    "101 digit integer": '{"limit": ' + "1" * 101 + "}",
    "101 digit float": '{"x": 0.' + "1" * 101 + "}",
    "big exponent": '{"x": 1e' + "9" * 200 + "}",
    "NaN": '{"x": NaN}',
    "lone surrogate as text": '{"content": "\ud800"}',
}


@pytest.mark.parametrize("name", list(HOSTILE_BODIES))
@pytest.mark.parametrize(("method", "path"), ROUTES_WITH_BODIES)
def test_hostile_json_is_400(rest, alice, name, method, path):
    room_id, token = alice
    result = rest.call(
        method, path.format(room=room_id), raw_body=HOSTILE_BODIES[name], token=token
    )
    assert result.status == 400, (name, result.body)
    assert result.error_code == "bad_request"


def test_64_levels_of_nesting_are_allowed(rest, alice):
    room_id, token = alice
    body = '{"content": "hi", "x": ' + "[" * 63 + "]" * 63 + "}"
    result = rest.call("POST", f"/rooms/{room_id}/messages", raw_body=body, token=token)
    assert result.status == 201, result.body
    body = '{"content": "hi", "x": ' + "[" * 64 + "]" * 64 + "}"
    result = rest.call("POST", f"/rooms/{room_id}/messages", raw_body=body, token=token)
    assert result.status == 400, result.body


def test_a_body_that_is_not_utf8_is_400(rest):
    from tests.support.clients import handler_of
    from tests.support.events import LambdaContext, rest_event

    event = rest_event("POST", "/auth/register", "/auth/register", raw_body="")
    event["body"] = base64.b64encode(b'{"username": "\xff\xfe", "password": "x"}').decode()
    event["isBase64Encoded"] = True
    response = handler_of("AuthFunction")(event, LambdaContext())
    assert response["statusCode"] == 400, response
    assert json.loads(response["body"])["error"]["code"] == "bad_request"


@pytest.mark.parametrize(
    "header", ["Bearer \xff\xfe", "Bearer abc\x00", "Bearer \ud800", "\xff", "Bearer a.b.c"]
)
def test_garbage_authorization_headers_are_401(rest, alice, header):
    room_id, _ = alice
    result = rest.get(f"/rooms/{room_id}", headers={"Authorization": header})
    assert result.status == 401, result.body
    assert result.error_code == "unauthorized"


# ------------------------------------------------------------------------------ class 5
FRAME_CASES = {
    "nested 5000": "[" * 5000 + "]" * 5000,
    "nested object 5000": '{"type": "ping", "x": ' + "[" * 5000 + "]" * 5000 + "}",
    "unclosed 30000": "{" * 30_000,
    "huge integer": '{"type": "ping", "x": ' + "9" * 5000 + "}",
    "NaN": '{"type": "ping", "x": NaN}',
    "surrogate content": '{"type": "message", "room_id": "r", "content": "\\ud800"}',
    "raw surrogate": '{"type": "ping", "x": "\ud800"}',
    "invisible content": '{"type": "message", "room_id": "r", "content": "\\u200b"}',
}


@pytest.mark.parametrize("name", list(FRAME_CASES))
def test_hostile_frames_get_an_error_frame(register, connect, name):
    client = connect(register("alice"))
    assert client.send_raw(FRAME_CASES[name]) == 200
    errors = client.frames("error")
    assert len(errors) == 1, client.frames()
    assert errors[0]["code"] in ("bad_request", "validation_error")
