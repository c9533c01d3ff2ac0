"""Redaction figures (chat.redaction): what redacting costs a log line.

Registered: the JWT signing key and the shared Gemini key (kept for the container) and a
full LRU of request secrets (passwords, keys; ``MAX_TRANSIENT``). Measured: rebuilding the
index of every form after a registration, redacting a typical 400-character JSON log line
with nothing to redact and with a secret in it, and a 64 KiB text (the largest body).

Run: PYTHONPATH=.:layers/shared .venv/bin/python bench/redaction.py
"""

from __future__ import annotations

import json
import secrets
import time

from chat import redaction


def per_call_us(function, text: str, repeat: int = 2000) -> float:
    start = time.perf_counter()
    for _ in range(repeat):
        function(text)
    return (time.perf_counter() - start) / repeat * 1e6


def main() -> None:
    for _ in range(2):
        redaction.register(secrets.token_urlsafe(48))
    for _ in range(redaction.MAX_TRANSIENT):
        redaction.register("pw " + secrets.token_urlsafe(12) + "'\"/&", transient=True)
    start = time.perf_counter()
    index = redaction._forms_index()
    forms = sum(len(found) for found in index.values())
    print(f"secrets registered: {2 + redaction.MAX_TRANSIENT}, forms indexed: {forms}")
    print(f"index rebuild after a registration: {(time.perf_counter() - start) * 1000:.2f} ms")
    line = json.dumps({"level": "INFO", "message": "request failed", "detail": "x" * 300})
    print(f"clean 400-char log line: {per_call_us(redaction.redact, line):.0f} us")
    key = secrets.token_urlsafe(30)
    redaction.register(key)
    dirty = line.replace("x" * 60, repr(key.encode()), 1)
    print(f"log line holding a key (bytes repr): {per_call_us(redaction.redact, dirty):.0f} us")
    print(f"64 KiB text: {per_call_us(redaction.redact, line * 160, 20) / 1000:.1f} ms")


if __name__ == "__main__":
    main()
