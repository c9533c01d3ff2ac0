"""moto's server in a child process of the local stack: DynamoDB, SQS, KMS, Secrets Manager …
on one port, S3 on another (with the checks S3 makes that moto lacks, local.s3).

Two origins, as on AWS, where a bucket's files are served from an S3 host and the other
services' APIs from theirs:

- the AWS APIs' port answers the AWS SDKs only: a request a browser makes (it carries
  `Origin` or `Sec-Fetch-*`, or is a CORS preflight) or an unsigned one is refused before
  moto sees it. No page, whatever its origin (the web client, a file opened from S3, any
  web site the developer visits), can read or change the local secrets, tables or queues;
- the S3 port serves S3 alone, as S3 serves it: signed requests, presigned URLs and POST
  uploads, CORS preflights. It is the only local AWS origin the web client's pages talk to
  (uploads, downloads) and every answer is `nosniff`.

`python -m local.aws_server --host 127.0.0.1 --port 0 --s3-port 0` prints
`listening <port> <s3 port>` once it serves, and exits when its standard input closes (the
local stack stopped or died). `--faults dynamodb=0.05 --fault-seed 7` makes DynamoDB's
calls fail as DynamoDB's do (local.faults); each fault and, at exit, their summary are
logged on standard error.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import sys
import threading
from collections.abc import Callable, Iterable
from typing import Any

from local.faults import DynamoDBFaults, FaultPlan
from local.s3 import S3Checks, signing_service

# What browsers send, and SDKs never do: any request carrying one comes from a page.
BROWSER_HEADERS = (
    "HTTP_ORIGIN",
    "HTTP_SEC_FETCH_SITE",
    "HTTP_SEC_FETCH_MODE",
    "HTTP_SEC_FETCH_DEST",
)


def _refuse(
    start_response: Callable[..., Any], status: str, body: bytes, content_type: str
) -> Iterable[bytes]:
    start_response(
        status,
        [
            ("Content-Type", content_type),
            ("Content-Length", str(len(body))),
            ("X-Content-Type-Options", "nosniff"),
        ],
    )
    return [body]


class SdkOnly:
    """The AWS APIs' port: only what an AWS SDK sends (SigV4-signed, from no page)."""

    def __init__(self, app: Callable[..., Any]):
        self.app = app

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        from_a_page = environ.get("REQUEST_METHOD") == "OPTIONS" or any(
            name in environ for name in BROWSER_HEADERS
        )
        if from_a_page or signing_service(environ) is None:
            message = (
                "The local AWS endpoint answers AWS SDKs only (signed, not from a web page); "
                "files are served on the local S3 endpoint"
            )
            body = json.dumps({"message": message}).encode()
            return _refuse(start_response, "403 Forbidden", body, "application/json")
        return self.app(environ, start_response)


class S3Only:
    """The S3 port: S3 requests only (a request signed for another service is refused, and
    moto dispatches everything here to S3), every answer `nosniff`."""

    def __init__(self, app: Callable[..., Any]):
        self.app = app

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        if signing_service(environ) not in (None, "s3"):
            body = (
                b'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>AccessDenied</Code>'
                b"<Message>This endpoint serves S3 only</Message></Error>"
            )
            return _refuse(start_response, "403 Forbidden", body, "application/xml")

        def with_nosniff(status: str, headers: list[tuple[str, str]], *rest: Any) -> Any:
            headers = [(k, v) for k, v in headers if k.lower() != "x-content-type-options"]
            return start_response(status, [*headers, ("X-Content-Type-Options", "nosniff")], *rest)

        return self.app(environ, with_nosniff)


def _log_to_stderr() -> None:
    """The faults' log lines on standard error (the local stack's output; standard output
    is the pipe the stack reads the ports from)."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(message)s", datefmt="%H:%M:%S"))
    logger = logging.getLogger("local.faults")
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    logger.propagate = False


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="the AWS APIs (0: any free port)")
    parser.add_argument("--s3-port", type=int, default=0, help="S3 (0: any free port)")
    parser.add_argument("--faults", default="", help="local.faults' specification")
    parser.add_argument("--fault-seed", type=int, default=0)
    parser.add_argument("--region", default="us-east-1")
    args = parser.parse_args()
    faults = FaultPlan.parse(args.faults, args.fault_seed).faults("dynamodb")
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent stops us, by closing stdin
    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # no access log line per AWS call

    from moto.moto_server.werkzeug_app import (
        DomainDispatcherApplication,
        MotoRequestHandler,
        create_backend_app,
    )
    from werkzeug.serving import make_server

    from local import moto_dynamodb

    moto_dynamodb.install()  # transactions at the cost of their items, not of their tables

    class S3Dispatcher(DomainDispatcherApplication):
        """moto's dispatcher with every request going to S3 (its state is the process's, so
        both ports see the same buckets)."""

        def get_application(self, environ: dict[str, Any]) -> Any:
            with self.lock:
                app = self.app_instances.get("s3")
                if app is None:
                    app = self.app_instances["s3"] = self.create_app("s3")
                return app

    apis: Callable[..., Any] = S3Checks(DomainDispatcherApplication(create_backend_app))
    if faults is not None:
        _log_to_stderr()
        apis = DynamoDBFaults(apis, faults, args.region)
    apis = SdkOnly(apis)
    s3 = S3Only(S3Checks(S3Dispatcher(create_backend_app)))
    servers = []
    for port, app in ((args.port, apis), (args.s3_port, s3)):
        try:
            server = make_server(
                args.host, port, app, threaded=True, request_handler=MotoRequestHandler
            )
        except OSError as exc:
            print(f"cannot listen on {args.host}:{port}: {exc.strerror}", flush=True)
            os._exit(1)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)

    def leave(*_: Any) -> None:
        if faults is not None:
            logging.getLogger("local.faults").info("%s", faults.summary())
        os._exit(0)  # the servers' threads need no clean-up: their state lives in memory only

    signal.signal(signal.SIGTERM, leave)  # a terminal's group-wide TERM: the summary too
    print(f"listening {servers[0].server_port} {servers[1].server_port}", flush=True)
    sys.stdin.read()  # returns at EOF: when the parent closes the pipe or dies
    leave()


if __name__ == "__main__":
    main()
