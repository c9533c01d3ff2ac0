"""Tokens, passwords, Gemini keys and message text never reach an X-Ray trace.

The handlers run in their own process as in a Lambda container with tracing on (see
trace_probe.py); every segment the X-Ray SDK sends goes to a fake daemon here (a UDP
socket), and is searched for the secrets. A control handler that does record its response
proves the search would find one.
"""

from __future__ import annotations

import json
import os
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

    # The trace was recorded: the handlers, and the AWS calls made in them
    assert sum(s["name"] == "## lambda_handler" for s in subsegments) >= 10
    aws_calls = {s["name"] for s in subsegments if s.get("namespace") == "aws"}
    assert {"dynamodb", "kms", "sqs", "secretsmanager", "execute-api"} <= aws_calls, aws_calls
    # (The model's HTTP call runs on the worker's reader thread, outside the X-Ray context:
    # it is not traced at all.)
    # The control's response reached the daemon: a recorded secret would be found
    assert canaries["control"] in trace
    # No secret did: tokens (any JWT), passwords, keys, message text, answers
    for name, value in canaries.items():
        if name != "control":
            assert value not in trace, name
    assert "eyJ" not in trace  # the start of every JWT (access tokens)


def _walk(segment: dict) -> list[dict]:
    """A segment document and every subsegment nested in it."""
    found = [segment]
    for child in segment.get("subsegments", []):
        found += _walk(child)
    return found
