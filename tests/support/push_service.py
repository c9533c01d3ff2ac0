"""A Web Push service on 127.0.0.1, for the tests: it plays both the push service and the
browsers subscribed to it.

`subscribe(name)` makes a browser's subscription: a P-256 key pair and an auth secret of its
own, and an endpoint here. Every push that arrives is checked as a push service and a browser
would: the VAPID header (RFC 8292: `vapid t=<JWT>, k=<key>`, the JWT signed ES256 by that
key, for this origin, not expired) and the payload, decrypted with the browser's private key
(RFC 8291, `aes128gcm`, with http-ece). A push that fails either check is recorded with its
error. What it answers can be set per endpoint (`answer`): 201 by default, or a list of
statuses used in turn (the last one repeats).
"""

from __future__ import annotations

import base64
import json
import os
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import http_ece
import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64url_decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@dataclass
class Push:
    """One push as it arrived."""

    endpoint: str
    status: int  # what the service answered
    headers: dict[str, str]
    vapid_key: str | None = None  # the `k=` of the Authorization header
    claims: dict[str, Any] | None = None  # the VAPID JWT's, once verified
    payload: dict[str, Any] | None = None  # decrypted
    error: str | None = None  # a check that failed


@dataclass
class Browser:
    name: str
    endpoint: str
    private_key: ec.EllipticCurvePrivateKey
    auth: bytes
    answers: list[int] = field(default_factory=lambda: [201])

    def subscription(self) -> dict[str, Any]:
        """The browser's `PushSubscription` as JSON (what a client posts)."""
        point = self.private_key.public_key().public_bytes(
            serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
        )
        return {
            "endpoint": self.endpoint,
            "expirationTime": None,
            "keys": {"p256dh": b64url(point), "auth": b64url(self.auth)},
        }


class PushService:
    def __init__(self) -> None:
        self.browsers: dict[str, Browser] = {}
        self.pushes: list[Push] = []
        self._lock = threading.Condition()
        service = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                status = service._receive(self.path, dict(self.headers.items()), body)
                self.send_response(status)
                self.send_header("Content-Length", "0")
                if status == 429:
                    self.send_header("Retry-After", "1")
                self.end_headers()

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.origin = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def subscribe(self, name: str) -> Browser:
        browser = Browser(
            name=name,
            endpoint=f"{self.origin}/push/{name}-{b64url(os.urandom(6))}",
            private_key=ec.generate_private_key(ec.SECP256R1()),
            auth=os.urandom(16),
        )
        self.browsers[browser.endpoint.rsplit("/", 1)[1]] = browser
        return browser

    def answer(self, browser: Browser, *statuses: int) -> None:
        browser.answers = list(statuses)

    # ------------------------------------------------------------------ what arrived
    def received(self, browser: Browser) -> list[Push]:
        with self._lock:
            return [push for push in self.pushes if push.endpoint == browser.endpoint]

    def delivered(self, browser: Browser) -> list[dict[str, Any]]:
        """The payloads the browser took (answered 2xx), decrypted."""
        return [
            push.payload
            for push in self.received(browser)
            if push.status < 300 and push.payload is not None
        ]

    def wait_for(self, browser: Browser, count: int, timeout: float = 10.0) -> list[Push]:
        deadline = time.monotonic() + timeout
        with self._lock:
            while len(self.received(browser)) < count:
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                self._lock.wait(left)
            return self.received(browser)

    # ------------------------------------------------------------------ receiving
    def _receive(self, path: str, headers: dict[str, str], body: bytes) -> int:
        browser = self.browsers.get(path.rsplit("/", 1)[-1])
        if browser is None:
            return 404
        status = browser.answers.pop(0) if len(browser.answers) > 1 else browser.answers[0]
        push = Push(browser.endpoint, status, {k.lower(): v for k, v in headers.items()})
        try:
            push.vapid_key, push.claims = self._check_vapid(push.headers, browser)
            push.payload = json.loads(self._decrypt(push.headers, body, browser))
        except Exception as exc:  # recorded: the test asserts there is none
            push.error = f"{type(exc).__name__}: {exc}"
        with self._lock:
            self.pushes.append(push)
            self._lock.notify_all()
        return status

    def _check_vapid(self, headers: dict[str, str], browser: Browser) -> tuple[str, dict[str, Any]]:
        scheme, _, parameters = headers.get("authorization", "").partition(" ")
        if scheme.lower() != "vapid":
            raise ValueError(f"not a VAPID authorization: {scheme!r}")
        fields = dict(part.strip().split("=", 1) for part in parameters.split(","))
        point = b64url_decode(fields["k"])
        public_key = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), point)
        claims = jwt.decode(
            fields["t"],
            key=public_key,
            algorithms=["ES256"],
            audience=self.origin,
            options={"require": ["exp", "aud", "sub"]},
        )
        if claims["exp"] > time.time() + 24 * 3600:
            raise ValueError("a VAPID JWT may not be valid for more than 24 hours")
        return fields["k"], claims

    def _decrypt(self, headers: dict[str, str], body: bytes, browser: Browser) -> bytes:
        if headers.get("content-encoding") != "aes128gcm":
            raise ValueError(f"content encoding {headers.get('content-encoding')!r}")
        return http_ece.decrypt(
            body, private_key=browser.private_key, auth_secret=browser.auth, version="aes128gcm"
        )
