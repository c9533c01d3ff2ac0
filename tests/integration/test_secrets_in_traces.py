"""Tokens, passwords, Gemini keys and message text never reach an X-Ray trace.

The handlers run in their own process as in a Lambda container with tracing on (see
trace_probe.py); every segment the X-Ray SDK sends goes to a fake daemon here (a UDP
socket), and is searched for the secrets. A control handler that does record its response
proves the search would find one.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import socket
import subprocess
import sys
import threading
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


class FakeXrayDaemon:
    """Collects the segment documents sent over UDP (header line, then the JSON)."""

    def __init__(self) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 * 1024 * 1024)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.settimeout(0.2)
        self.documents: list[str] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._receive, daemon=True)
        self._thread.start()

    @property
    def address(self) -> str:
        host, port = self.sock.getsockname()
        return f"{host}:{port}"

    def _receive(self) -> None:
        while not self._stop.is_set():
            try:
                data = self.sock.recv(65536)
            except TimeoutError:
                continue
            header, _, document = data.decode().partition("\n")
            assert json.loads(header) == {"format": "json", "version": 1}
            self.documents.append(document)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()
        self.sock.close()


def test_traces_hold_no_tokens_passwords_keys_or_message_text():
    canaries = {
        "password": "pw-canary-" + secrets.token_hex(8),
        "api_key": "AIza-key-canary-" + secrets.token_hex(8),
        "jwt_key": "jwt-signing-canary-" + secrets.token_hex(16),
        "ws_message": "ws-text-canary-" + secrets.token_hex(8),
        "command": "command-text-canary-" + secrets.token_hex(8),
        "answer": "answer-text-canary-" + secrets.token_hex(8),
        "control": "control-canary-" + secrets.token_hex(8),
    }
    daemon = FakeXrayDaemon()
    try:
        run = subprocess.run(  # noqa: S603 - our own interpreter and module
            [
                sys.executable,
                "-m",
                "tests.integration.trace_probe",
                daemon.address,
                json.dumps(canaries),
            ],
            cwd=ROOT,
            env={**os.environ, "PYTHONPATH": f"{ROOT}{os.pathsep}{ROOT / 'layers/shared'}"},
            capture_output=True,
            text=True,
            timeout=120,
        )
    finally:
        daemon.stop()
    assert run.returncode == 0, run.stderr[-3000:]
    trace = "\n".join(daemon.documents)
    subsegments = [s for d in daemon.documents for s in _walk(json.loads(d))]

    # The trace was recorded: the worker's handler, and the AWS calls made in all of them
    assert sum(s["name"] == "## lambda_handler" for s in subsegments) >= 1
    aws_calls = {s["name"] for s in subsegments if s.get("namespace") == "aws"}
    assert {"dynamodb", "kms", "sqs", "secretsmanager"} <= aws_calls, aws_calls
    # and the fan-outs (the pushes are signed HTTP requests, not botocore calls)
    assert any(s["name"] == "## chat.logic.realtime.fanout.to_connections" for s in subsegments)
    # (The model's HTTP call runs on the worker's reader thread, outside the X-Ray context:
    # it is not traced at all.)
    # The control's response reached the daemon: a recorded secret would be found
    assert canaries["control"] in trace
    # No secret did: tokens (any JWT), passwords, keys, message text, answers
    for name, value in canaries.items():
        if name != "control":
            assert value not in trace, name
    # Any JWT (access tokens): a JSON header and payload, base64url, dot-separated. (Not just
    # "eyJ", which a random request id of the moto responses recorded can contain.)
    assert not re.search(r"eyJ[\w-]*\.eyJ[\w-]*\.", trace), "a JWT reached a trace"


def _walk(segment: dict) -> list[dict]:
    """A segment document and every subsegment nested in it."""
    found = [segment]
    for child in segment.get("subsegments", []):
        found += _walk(child)
    return found


def test_api_handlers_load_no_xray_sdk():
    """The REST and WebSocket functions have no tracer (Lambda's active tracing records their
    segments): imported as in a Lambda container with tracing on, they load no X-Ray SDK, so
    nothing of theirs (responses, bodies) can reach a trace through it. The worker does."""
    probe = (
        "import json, sys, importlib.util\n"
        "import os, tests.conftest\n"
        "os.environ['POWERTOOLS_TRACE_DISABLED'] = 'false'  # tests.conftest turns it off\n"
        "loaded = {}\n"
        "for name in sys.argv[1:]:\n"
        "    spec = importlib.util.spec_from_file_location('app_' + name, f'functions/{name}/app.py')\n"
        "    spec.loader.exec_module(importlib.util.module_from_spec(spec))\n"
        "    loaded[name] = sorted({m.split('.')[0] for m in sys.modules\n"
        "                           if m.startswith(('aws_xray', 'requests', 'sqlite3'))})\n"
        "print(json.dumps(loaded))\n"
    )
    env = {
        **os.environ,
        "PYTHONPATH": f"{ROOT}{os.pathsep}{ROOT / 'layers/shared'}",
        "POWERTOOLS_TRACE_DISABLED": "false",
        "LAMBDA_TASK_ROOT": str(ROOT),
        "AWS_LAMBDA_FUNCTION_NAME": "trace-probe",
        "_X_AMZN_TRACE_ID": "Root=1-5759e988-bd862e3fe1be46a994272793;Sampled=1",
        "AWS_XRAY_CONTEXT_MISSING": "LOG_ERROR",
        "BOT_QUEUE_URL": "https://sqs.us-east-1.amazonaws.com/1/q.fifo",
        "FANOUT_QUEUE_URL": "https://sqs.us-east-1.amazonaws.com/1/fanout.fifo",
        "BIG_ROOMS_PARAMETER": "big-rooms",
        "GEMINI_KEYS_KMS_KEY_ID": "key-id",
    }
    handlers = ["auth", "rooms", "ws_authorizer", "ws_connect", "ws_message", "bot_worker"]
    run = subprocess.run(  # noqa: S603 - our own interpreter and code
        [sys.executable, "-c", probe, *handlers],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 0, run.stderr[-3000:]
    loaded = json.loads(run.stdout.strip().splitlines()[-1])
    assert {name: loaded[name] for name in handlers[:-1]} == {name: [] for name in handlers[:-1]}
    # The control: the worker's tracer loads it, and patches botocore only (patching every
    # library the SDK supports imported requests and sqlite3, ~30 ms of cold start)
    assert loaded["bot_worker"] == ["aws_xray_sdk"]
