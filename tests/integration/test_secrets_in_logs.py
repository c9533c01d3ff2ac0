"""Passwords and Gemini keys never reach a log line, a metric or a trace, in any form
(raw, repr-escaped, JSON-escaped, URL-encoded, base64), even at DEBUG."""

from __future__ import annotations

import json
import logging

import pytest
from aws_xray_sdk import global_sdk_config
from aws_xray_sdk.core import xray_recorder

from chat import redaction
from chat.observability import metrics, tracer
from tests.support.secrets import leaks

PASSWORD = "pw canary/+ 'q' \"dq\" & ü=%41"
API_KEY = "AIza-key/canary+'q'\"dq\"&=%41-0123456789"


@pytest.fixture
def everything_logged(caplog):
    caplog.set_level(logging.DEBUG)
    for name in ("aws_lambda_powertools", "chat", "botocore", ""):
        logging.getLogger(name).setLevel(logging.DEBUG)
    yield caplog
    for name in ("aws_lambda_powertools", "chat", "botocore", ""):
        logging.getLogger(name).setLevel(logging.WARNING)


def test_debug_logging_never_shows_passwords_or_api_keys(rest, register, everything_logged, capsys):
    rest.post("/auth/register", {"username": "alice", "password": PASSWORD})
    token = rest.post("/auth/login", {"username": "alice", "password": PASSWORD}).body[
        "access_token"
    ]
    room = rest.post("/rooms", {"name": "keyed", "gemini_api_key": API_KEY}, token=token).body
    rest.put(f"/rooms/{room['room_id']}/bot", {"gemini_api_key": API_KEY}, token=token)
    rest.post("/auth/login", {"username": "alice", "password": PASSWORD + "-wrong"})
    records = "\n".join(
        f"{record.getMessage()}\n{record.exc_text or ''}" for record in everything_logged.records
    )
    logged = everything_logged.text + records + capsys.readouterr().out
    assert "keyed" in logged or "/rooms" in logged  # DEBUG logging did capture the requests
    assert "Plaintext" in logged  # botocore's DEBUG lines about the KMS call were captured
    assert leaks(PASSWORD, logged) == []
    assert leaks(API_KEY, logged) == []


def test_an_exception_holding_a_secret_is_logged_redacted(everything_logged, capsys):
    from chat.observability import logger

    redaction.register(API_KEY)
    try:
        raise ValueError(f"Illegal header value {API_KEY.encode()!r} in {json.dumps(API_KEY)}")
    except ValueError:
        logger.exception("request failed", extra={"detail": repr(API_KEY)})
        logging.getLogger("httpx").exception("transport failed")
    logged = everything_logged.text + capsys.readouterr().out
    assert "request failed" in logged and "transport failed" in logged
    assert "Illegal header value" in logged
    assert leaks(API_KEY, logged) == []


def test_metrics_are_redacted(capsys):
    redaction.register(API_KEY)
    metrics.add_metric(name="Probe", unit="Count", value=1)
    metrics.add_metadata(key="detail", value=f"failed with {API_KEY!r}")
    metrics.flush_metrics()
    out = capsys.readouterr().out
    assert "Probe" in out
    assert leaks(API_KEY, out) == []


def test_trace_segments_are_redacted(monkeypatch):
    # The redaction is installed with the tracer (chat.observability.tracer(): the worker's)
    tracer()
    redaction.register(API_KEY)
    sent: list[bytes] = []

    class Socket:
        def sendto(self, data: bytes, address) -> None:
            sent.append(data)

    emitter = xray_recorder.emitter
    monkeypatch.setattr(emitter, "_socket", Socket())
    global_sdk_config.set_sdk_enabled(True)
    try:
        segment = xray_recorder.begin_segment("probe")
        segment.put_metadata("response", {"error": f"key {API_KEY}"}, "chat")
        segment.put_annotation("detail", API_KEY)
        try:
            raise RuntimeError(f"Illegal header value {API_KEY.encode()!r}")
        except RuntimeError as exc:
            segment.add_exception(exc, [])
        xray_recorder.end_segment()
    finally:
        global_sdk_config.set_sdk_enabled(False)
    document = b"".join(sent).decode()
    assert "probe" in document and "Illegal header value" in document
    assert leaks(API_KEY, document) == []
