"""moto's server in a child process of the local stack: DynamoDB, SQS, KMS, Secrets Manager,
S3 (with the presigned POST policy checks moto lacks, local.s3) …

`python -m local.aws_server --host 127.0.0.1 --port 0` prints `listening <port>` once it
serves, and exits when its standard input closes (the local stack stopped or died).
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args()
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent stops us, by closing stdin
    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # no access log line per AWS call

    from moto.moto_server.threaded_moto_server import ThreadedMotoServer

    class Server(ThreadedMotoServer):
        """moto's server with S3's presigned POST policy checks in front (local.s3)."""

        def _server_entry(self) -> None:
            from moto.moto_server.werkzeug_app import (
                DomainDispatcherApplication,
                MotoRequestHandler,
                create_backend_app,
            )
            from werkzeug.serving import make_server

            from local.s3 import PostPolicyCheck

            app = PostPolicyCheck(DomainDispatcherApplication(create_backend_app))
            self._server = make_server(
                self._ip_address, self._port, app, True, request_handler=MotoRequestHandler
            )
            self._server_ready_event.set()
            self._server.serve_forever()

    server = Server(ip_address=args.host, port=args.port, verbose=False)
    server.start()
    print(f"listening {server.get_host_and_port()[1]}", flush=True)
    sys.stdin.read()  # returns at EOF: when the parent closes the pipe or dies
    os._exit(0)  # the server's threads need no clean-up: its state lives in memory only


if __name__ == "__main__":
    main()
