"""The web client's site: what the template's optional `WebClient` site (a CloudFront
distribution in front of a bucket, filled by `make publish-web`) serves, on its own port.

A static file server of web/dist (built by `make web`) on a thread. `config.json` is made on
the fly from the local stack's URLs, as `make publish-web` makes it from the stack's
outputs, so the same build works against any local ports; every answer carries the security
headers the deployed site gets from CloudFront, with the local REST, WebSocket and S3
endpoints as the only origins the page may connect to.
"""

from __future__ import annotations

import http.server
import json
import logging
import threading
from functools import partial
from pathlib import Path
from typing import Any

log = logging.getLogger("local.web_site")

DIST = Path(__file__).resolve().parent.parent / "web" / "dist"
_MISSING = b"""<!doctype html><meta charset="utf-8"><title>Chat</title>
<p>The web client is not built: run <code>make web</code> (or <code>make dev</code>, which builds it).</p>
"""


def content_security_policy(connect: list[str]) -> str:
    sources = " ".join(dict.fromkeys(connect))
    images = " ".join(source for source in dict.fromkeys(connect) if source.startswith("http"))
    return (
        "default-src 'self'; script-src 'self'; style-src 'self'; "
        f"img-src 'self' data: blob: {images}; connect-src 'self' {sources}; "
        "font-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; "
        "frame-ancestors 'none'"
    )


class _Handler(http.server.SimpleHTTPRequestHandler):
    config: bytes = b"{}"
    headers_to_add: dict[str, str] = {}  # noqa: RUF012 - set per server class below

    def end_headers(self) -> None:
        for name, value in self.headers_to_add.items():
            self.send_header(name, value)
        self.send_header("Cache-Control", "no-cache")
        super().end_headers()

    def do_GET(self) -> None:
        path = self.path.split("?", 1)[0]
        if path == "/config.json":
            self._send(200, "application/json", self.config)
        elif not (DIST / "index.html").exists():
            self._send(503, "text/html; charset=utf-8", _MISSING)
        else:
            super().do_GET()

    def _send(self, status: int, content_type: str, body: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        # Without the query string: nothing a URL carries lands in a log.
        path = str(getattr(self, "path", "") or "").split("?", 1)[0]
        log.debug("web %s %s", getattr(self, "command", None) or "-", path)


class WebClientServer:
    def __init__(self, host: str, port: int, urls: dict[str, str]):
        config = {"rest_url": urls["rest"], "ws_url": urls["ws"]}
        # The local S3 (uploads, downloads), never the AWS APIs' endpoint (local/aws_server.py).
        connect = [urls["rest"], urls["ws"]] + ([urls["s3"]] if urls.get("s3") else [])
        handler = type(
            "Handler",
            (_Handler,),
            {
                "config": json.dumps(config).encode(),
                "headers_to_add": {
                    "Content-Security-Policy": content_security_policy(connect),
                    "X-Content-Type-Options": "nosniff",
                    "Referrer-Policy": "no-referrer",
                    "X-Frame-Options": "DENY",
                },
            },
        )
        handler.extensions_map = {**handler.extensions_map, ".js": "text/javascript"}
        self.server = http.server.ThreadingHTTPServer(
            (host, port), partial(handler, directory=str(DIST))
        )
        self.server.daemon_threads = True
        bound_host, bound_port = self.server.server_address[:2]
        public = "127.0.0.1" if bound_host in ("", "0.0.0.0", "::") else bound_host
        self.url = f"http://{public}:{bound_port}"
        self._thread = threading.Thread(
            target=self.server.serve_forever, name="web-client", daemon=True
        )

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def start(host: str, port: int, urls: dict[str, str]) -> WebClientServer:
    """Serve web/dist on host:port (0: any free port); OSError when it cannot listen there."""
    server = WebClientServer(host, port, urls)
    server._thread.start()
    if not (DIST / "index.html").exists():
        log.warning("web/dist is not built: run `make web` to build the web client")
    return server
