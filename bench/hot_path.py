"""The message hot path: what one WebSocket `message` frame costs the WsMessageFunction.

The real handler (functions/ws_message/app.py, Powertools decorators and all, INFO logs,
metrics flushed to stdout as in Lambda) runs in this process. Every AWS call it makes goes
over real HTTP to a fake AWS endpoint in a child process (`--serve`), which:

- answers DynamoDB with canned items (the sender's connection and membership, the room's
  subscribers) after a simulated round trip of RTT_MS, so DynamoDB's own work is not in
  this process's CPU time, but botocore's (serialising, signing, parsing) is;
- answers the management API's PostToConnection at once (a fake management endpoint);
- logs the arrival time of every request, so the bench can tell how many sequential
  DynamoDB round trips came before the first push, and how many DynamoDB calls a message made.

Figures, for a room of 5 subscribers and one of 1000:
- "CPU/message": the handler's own CPU time (every thread of this process) per message;
- "CPU/push": for the large room, (CPU(1000) - CPU(5)) / 995;
- "round trips before the first push": DynamoDB calls made one after the other before the
  first push reached the endpoint (calls that overlap in time count once);
- "wall/message": the handler's duration (median), RTT_MS per DynamoDB round trip included;
- "DynamoDB calls/message", and the SQS calls (the notifier's job: one per message);
- the same for a message that mentions a member (`@user1`): what resolving a name costs.

The same for a REST request: the real `RoomsFunction` handler posting one message to the
5-subscriber room, with its bearer token checked as every REST request's is (signature,
then whether it was revoked: chat.logic.accounts.revocation), and with the revocation
check left out, to show what that check costs.

Run: .venv/bin/python bench/hot_path.py
"""

from __future__ import annotations

import contextlib
import json
import os
import statistics
import subprocess
import sys
import threading
import time
import urllib.request
import zlib
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

_ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(_ROOT), str(_ROOT / "layers" / "shared")]

RTT_MS = 10.0  # simulated DynamoDB round trip
JWT_KEY = "bench-signing-key-bench-signing-key-bench-signing-key"
RUNS_REST = 200
SMALL, LARGE = 5, 1000
RUNS_SMALL, RUNS_LARGE, WARM_UP = 200, 10, 20
ROOM_ID, USER_ID, USERNAME = "01ROOMBENCH", "u-sender", "sender"
SENDER = "sender-conn="


# ---------------------------------------------------------------------- the fake AWS endpoint
def _s(value: str) -> dict[str, str]:
    return {"S": value}


def _n(value: int) -> dict[str, str]:
    return {"N": str(value)}


class FakeAws(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # no 40 ms delayed-ACK stalls between header and body
    log: list[tuple[float, str]] = []  # noqa: RUF012 - one server per process
    subscribers = SMALL
    lock = threading.Lock()

    def log_message(self, *args: Any) -> None:
        pass

    def _answer(self, status: int, body: bytes = b"", content_type: str = "") -> None:
        self.send_response(status)
        if content_type:
            self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _record(self, what: str) -> None:
        with self.lock:
            self.log.append((time.monotonic(), what))

    def do_GET(self) -> None:
        if self.path.startswith("/__log"):
            with self.lock:
                body = json.dumps(self.log).encode()
                self.log.clear()
            self._answer(200, body, "application/json")
        elif self.path.startswith("/__subscribers/"):
            FakeAws.subscribers = int(self.path.rsplit("/", 1)[1])
            self._answer(200)
        else:
            self._answer(404)

    def do_DELETE(self) -> None:
        self._record("DeleteConnection")
        self._answer(204)

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        if "/@connections/" in self.path:
            self._record("push")
            self._answer(200)
            return
        operation = (self.headers.get("X-Amz-Target") or "").rsplit(".", 1)[-1]
        request = json.loads(body or b"{}")
        self._record(operation)
        time.sleep(RTT_MS / 1000)
        self._answer(
            200,
            json.dumps(self._dynamodb(operation, request)).encode(),
            "application/x-amz-json-1.0",
        )

    def _dynamodb(self, operation: str, request: dict[str, Any]) -> dict[str, Any]:
        expires = int(time.time()) + 7200
        if operation == "GetSecretValue":  # the JWT signing key (Secrets Manager)
            return {"ARN": request["SecretId"], "Name": "jwt", "SecretString": JWT_KEY}
        if operation == "GetItem" and request.get("TableName") == "ConnectionsTable":
            return {
                "Item": {
                    "pk": _s(f"CONN#{SENDER}"),
                    "sk": _s("META"),
                    "connection_id": _s(SENDER),
                    "user_id": _s(USER_ID),
                    "username": _s(USERNAME),
                    "connected_at": _s("2026-01-01T00:00:00.000Z"),
                    "expires_at": _n(expires),
                }
            }
        if operation == "GetItem" and request.get("TableName") == "MembershipsTable":
            return {
                "Item": {
                    "room_id": _s(ROOM_ID),
                    "user_id": _s(USER_ID),
                    "username": _s(USERNAME),
                    "role": _s("member"),
                    "joined_at": _s("2026-01-01T00:00:00.000Z"),
                }
            }
        if operation == "BatchGetItem":
            return {"Responses": self._batch_get(request["RequestItems"])}
        if operation == "Query":
            items = []
            for index in range(self.subscribers):
                connection_id = SENDER if index == 0 else f"conn-{index:05d}="
                items.append(
                    {
                        "pk": _s(f"ROOM#{ROOM_ID}"),
                        # the slot: chat.queued_shard.slot_of
                        "sk": _s(
                            f"CONN#{zlib.crc32(connection_id.encode()) % 4096:03x}#{connection_id}"
                        ),
                        "connection_id": _s(connection_id),
                        "user_id": _s(USER_ID if index == 0 else f"u-{index}"),
                        "username": _s(USERNAME if index == 0 else f"user{index}"),
                        "expires_at": _n(expires),
                    }
                )
            return {"Items": items, "Count": len(items), "ScannedCount": len(items)}
        return {}

    @staticmethod
    def _batch_get(requests: dict[str, Any]) -> dict[str, list[dict[str, Any]]]:
        """The mentioned users (`USERNAME#user<N>` claims) and their memberships: all exist."""
        found: dict[str, list[dict[str, Any]]] = {}
        for table, request in requests.items():
            items = found.setdefault(table, [])
            for key in request["Keys"]:
                if table == "UsersTable":
                    name = key["pk"]["S"].removeprefix("USERNAME#")
                    items.append({"user_id": _s(f"u-{name}"), "username": _s(name)})
                elif table == "MembershipsTable":
                    user_id = key["user_id"]["S"]
                    items.append(
                        {
                            "room_id": key["room_id"],
                            "user_id": _s(user_id),
                            "username": _s(user_id.removeprefix("u-")),
                            "role": _s("member"),
                            "joined_at": _s("2026-01-01T00:00:00.000Z"),
                        }
                    )
        return found


def serve() -> None:
    server = ThreadingHTTPServer(("127.0.0.1", 0), FakeAws)
    server.daemon_threads = True
    print(server.server_address[1], flush=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    sys.stdin.read()  # until the bench closes its end


# ---------------------------------------------------------------------- the bench
def _environment(port: int) -> dict[str, str]:
    from local.template import load_template, resources_of_type

    template = load_template()
    tables = resources_of_type(template, "AWS::DynamoDB::Table")
    env = {
        name: value["Ref"]
        for name, value in template["Globals"]["Function"]["Environment"]["Variables"].items()
        if isinstance(value, dict) and value.get("Ref") in tables
    }
    endpoint = f"http://127.0.0.1:{port}"
    return {
        **env,
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_REGION": "us-east-1",
        "AWS_ACCESS_KEY_ID": "bench",
        "AWS_SECRET_ACCESS_KEY": "bench",
        "AWS_ENDPOINT_URL": endpoint,
        "AWS_LAMBDA_FUNCTION_NAME": "WsMessageFunction",
        "CORS_ALLOW_ORIGIN": "*",
        "GEMINI_KEYS_KMS_KEY_ID": "bench-key",
        "ATTACHMENTS_TABLE": "AttachmentsTable",
        "ATTACHMENTS_BUCKET": "attachments",
        "POWERTOOLS_SERVICE_NAME": "chat",
        "POWERTOOLS_METRICS_NAMESPACE": "CollabChat",
        "POWERTOOLS_METRICS_FUNCTION_NAME": "WsMessage",
        "POWERTOOLS_TRACE_DISABLED": "true",  # no X-Ray daemon here
        "POWERTOOLS_LOG_LEVEL": "INFO",  # the template's default
        "JWT_SECRET_ARN": "bench-jwt-key",
        "TOKEN_TTL_SECONDS": "86400",
        "DEFAULT_BOT_MODEL": "gemini-2.5-flash",
        "WEBSOCKET_MANAGEMENT_URL": f"{endpoint}/v1",
        "BOT_QUEUE_URL": f"{endpoint}/123456789012/BotCommandsQueue.fifo",
        "CLIENT_IDS_TABLE": "ClientIdsTable",
        "NOTIFICATIONS_QUEUE_URL": f"{endpoint}/123456789012/NotificationsQueue",
        "NOTIFICATIONS_TABLE": "NotificationsTable",
        "FANOUT_QUEUE_URL": f"{endpoint}/123456789012/FanoutQueue.fifo",
        # The direct path (every push by the handler), at both sizes: a big room's sharded
        # path is bench/big_room.py's.
        "FANOUT_SHARD_THRESHOLD": "100000",
    }


def _get(port: int, path: str) -> Any:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}") as response:
        body = response.read()
    return json.loads(body) if body else None


def _event(index: int, mention: bool = False) -> dict[str, Any]:
    from local.events import WebSocketConnection, ws_message_event

    connection = WebSocketConnection(SENDER)
    body = json.dumps(
        {
            "type": "message",
            "room_id": ROOM_ID,
            "content": f"hello @user1 {index}" if mention else f"hello {index}",
            "client_id": f"c{index}",
        }
    )
    event = ws_message_event(connection, "message", body)
    # What the $connect authorizer's context gives every later route of the connection.
    event["requestContext"]["authorizer"] = {
        "user_id": USER_ID,
        "username": USERNAME,
        "token_expires_at": int(time.time()) + 3600,
        "principalId": USER_ID,
    }
    return event


_NOT_DYNAMODB = ("push", "DeleteConnection", "SendMessage")


def _round_trips_before(first_push: float, log: list[tuple[float, str]]) -> int:
    """Sequential DynamoDB round trips before the first push: calls that overlap in time
    count as one (each lasts RTT_MS at the endpoint)."""
    rounds, round_end = 0, float("-inf")
    for at, what in sorted(log):
        if at >= first_push:
            break
        if what not in _NOT_DYNAMODB and at >= round_end:
            rounds, round_end = rounds + 1, at + RTT_MS / 1000
    return rounds


def measure(port: int, subscribers: int, runs: int, mention: bool = False) -> dict[str, float]:
    from functions.ws_message.app import lambda_handler
    from local.events import LambdaContext

    _get(port, f"/__subscribers/{subscribers}")
    context = LambdaContext("WsMessageFunction")
    for index in range(WARM_UP):
        lambda_handler(_event(index), context)
    _get(port, "/__log")
    cpu, wall, first_push, calls, sqs = 0.0, [], [], [], []
    for index in range(runs):
        event = _event(index, mention)
        started, cpu_started = time.monotonic(), time.process_time()
        result = lambda_handler(event, context)
        cpu += time.process_time() - cpu_started
        wall.append(time.monotonic() - started)
        assert result["statusCode"] == 200, result
        log = _get(port, "/__log")
        pushes = [at for at, what in log if what == "push"]
        assert len(pushes) == subscribers, (len(pushes), log)
        first_push.append(_round_trips_before(min(pushes), log))
        calls.append(sum(1 for _, what in log if what not in _NOT_DYNAMODB))
        sqs.append(sum(1 for _, what in log if what == "SendMessage"))
    return {
        "cpu_ms": cpu / runs * 1000,
        "wall_ms": statistics.median(wall) * 1000,
        "first_push_rtts": statistics.median(first_push),
        "calls": statistics.median(calls),
        "sqs": statistics.median(sqs),
    }


def _rest_event(index: int, token: str) -> dict[str, Any]:
    from local.events import rest_event

    body = json.dumps({"content": f"hello {index}", "client_id": f"r{index}"})
    return rest_event(
        "POST",
        "/rooms/{room_id}/messages",
        f"/rooms/{ROOM_ID}/messages",
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
        body=body,
    )


def measure_rest(port: int, runs: int, *, revocation_check: bool) -> dict[str, float]:
    """One REST message per run through RoomsFunction, its token checked for revocation or
    (`revocation_check` False) for its signature only."""
    import jwt

    from chat.logic.accounts import revocation
    from functions.rooms.app import lambda_handler
    from local.events import LambdaContext

    now = int(time.time())
    claims = {"sub": USER_ID, "username": USERNAME, "iat": now, "exp": now + 3600, "jti": "b"}
    token = jwt.encode(claims, JWT_KEY, "HS256")
    real_check = revocation.check
    if not revocation_check:
        revocation.check = lambda principal: None  # type: ignore[assignment]
    try:
        _get(port, f"/__subscribers/{SMALL}")
        context = LambdaContext("RoomsFunction")
        for index in range(WARM_UP):
            lambda_handler(_rest_event(index, token), context)
        _get(port, "/__log")
        cpu, wall, calls = 0.0, [], []
        for index in range(runs):
            event = _rest_event(index, token)
            started, cpu_started = time.monotonic(), time.process_time()
            result = lambda_handler(event, context)
            cpu += time.process_time() - cpu_started
            wall.append(time.monotonic() - started)
            assert result["statusCode"] == 201, result
            log = _get(port, "/__log")
            calls.append(sum(1 for _, what in log if what not in ("push", "DeleteConnection")))
    finally:
        revocation.check = real_check  # type: ignore[assignment]
    return {
        "cpu_ms": cpu / runs * 1000,
        "wall_ms": statistics.median(wall) * 1000,
        "calls": statistics.median(calls),
    }


def _print_rest(without: dict[str, float], checked: dict[str, float]) -> None:
    print(
        f"\nRoomsFunction, POST /rooms/{{id}}/messages ({SMALL} subscribers), bearer token "
        "checked as on every REST request:\n"
    )
    print(f"{'':<34} {'CPU/request':>12} {'wall/request':>13} {'DynamoDB calls':>15}")
    for label, row in (("signature only", without), ("signature + revocation", checked)):
        print(
            f"{label:<34} {row['cpu_ms']:>9.2f} ms {row['wall_ms']:>10.1f} ms {row['calls']:>15.0f}"
        )
    print(
        f"{'the revocation check costs':<34} {checked['cpu_ms'] - without['cpu_ms']:>9.2f} ms "
        f"{checked['wall_ms'] - without['wall_ms']:>10.1f} ms "
        f"{checked['calls'] - without['calls']:>15.0f}"
    )


def main() -> None:
    server = subprocess.Popen(  # noqa: S603 - this script
        [sys.executable, __file__, "--serve"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert server.stdout is not None
        port = int(server.stdout.readline())
        os.environ.update(_environment(port))
        real_stdout = sys.stdout
        with open(os.devnull, "w") as devnull, contextlib.redirect_stdout(devnull):
            # Metric and log lines go where Lambda sends them (stdout): written, not shown.
            small = measure(port, SMALL, RUNS_SMALL)
            large = measure(port, LARGE, RUNS_LARGE)
            without = measure_rest(port, RUNS_REST, revocation_check=False)
            checked = measure_rest(port, RUNS_REST, revocation_check=True)
            named = measure(port, SMALL, RUNS_SMALL, mention=True)
        sys.stdout = real_stdout
    finally:
        assert server.stdin is not None
        server.stdin.close()
        server.wait(5)
    per_push = (large["cpu_ms"] - small["cpu_ms"]) / (LARGE - SMALL)
    print(
        f"WsMessageFunction, one `message` frame; DynamoDB round trip simulated at {RTT_MS:.0f} ms "
        f"(its time not in the CPU figures); pushes to a fake management endpoint.\n"
    )
    print(
        f"{'message':<12} {'subscribers':>11} {'CPU/message':>12} {'wall/message':>13} "
        f"{'round trips before the first push':>34} {'DynamoDB calls':>15} {'SQS calls':>10}"
    )
    rows = (("plain", SMALL, small), ("plain", LARGE, large), ("@user1", SMALL, named))
    for kind, size, row in rows:
        print(
            f"{kind:<12} {size:>11} {row['cpu_ms']:>9.2f} ms {row['wall_ms']:>10.1f} ms "
            f"{row['first_push_rtts']:>34.0f} {row['calls']:>15.0f} {row['sqs']:>10.0f}"
        )
    print(f"\nCPU per push (1000-subscriber room): {per_push:.3f} ms")
    _print_rest(without, checked)


if __name__ == "__main__":
    if sys.argv[1:] == ["--serve"]:
        serve()
    else:
        main()
