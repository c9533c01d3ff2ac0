"""Smoke test of a running stack: the contract's main flows, as a client uses them.

    make smoke STACK=collab-chat-staging            # a deployed stack (its outputs)
    make smoke REST_URL=http://127.0.0.1:3000/v1 WS_URL=ws://127.0.0.1:3001/v1   # make dev

Registers a throwaway user, checks who-am-I, creates a room, connects a WebSocket and joins
the room, sends a message (acknowledged by its `message` frame, then found in the REST
history) and a bot command, whose answer streams back to completion. The room is left at
the end. Each step prints its time; the exit status is 0 only if every step passed.

The bot uses SMOKE_GEMINI_API_KEY as the room's key when it is set, else the stack's shared
key. Without either the bot answers `no_api_key`: the queue, the worker and the pushes were
still exercised, so the step passes and says so; `--require-answer` makes it a failure.
A deployed stack limits registrations per address (RegistrationsPerAddressPerHour): each
run registers one user.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import httpx
from websockets.sync.client import ClientConnection, connect

BOT_TIMEOUT_SECONDS = 120  # a cold worker, then the model
FRAME_TIMEOUT_SECONDS = 30


class SmokeFailure(Exception):
    pass


@dataclass
class Endpoints:
    rest_url: str
    ws_url: str


def stack_endpoints(stack: str, region: str | None = None) -> Endpoints:
    """The RestApiUrl and WebSocketUrl outputs of a deployed stack."""
    import boto3

    cloudformation = boto3.client("cloudformation", region_name=region)
    (described,) = cloudformation.describe_stacks(StackName=stack)["Stacks"]
    outputs = {o["OutputKey"]: o["OutputValue"] for o in described.get("Outputs", [])}
    missing = {"RestApiUrl", "WebSocketUrl"} - set(outputs)
    if missing:
        raise SmokeFailure(f"stack {stack} has no output(s) {', '.join(sorted(missing))}")
    return Endpoints(outputs["RestApiUrl"], outputs["WebSocketUrl"])


@dataclass
class Run:
    endpoints: Endpoints
    gemini_key: str | None = None
    require_answer: bool = False
    out: Callable[[str], None] = print
    steps: list[tuple[str, float]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.http = httpx.Client(base_url=self.endpoints.rest_url.rstrip("/"), timeout=30)
        self.token = ""

    # -- plumbing --------------------------------------------------------------------
    @contextmanager
    def step(self, name: str) -> Iterator[None]:
        started = time.monotonic()
        try:
            yield
        except Exception as exc:  # a refused connection, a timeout … fail the step too
            self.out(f"FAIL {name}: {exc}")
            if isinstance(exc, SmokeFailure):
                raise
            raise SmokeFailure(f"{name}: {type(exc).__name__}: {exc}") from exc
        seconds = time.monotonic() - started
        self.steps.append((name, seconds))
        self.out(f"ok   {name} ({seconds * 1000:.0f} ms)")

    def call(self, method: str, path: str, expected: int, body: Any = None) -> Any:
        headers = {"Authorization": f"Bearer {self.token}"} if self.token else {}
        response = self.http.request(method, path, json=body, headers=headers)
        if response.status_code != expected:
            raise SmokeFailure(
                f"{method} {path} answered {response.status_code}, not {expected}: "
                f"{response.text[:300]}"
            )
        return response.json() if response.content else None

    def frame(
        self,
        socket: ClientConnection,
        wanted: Callable[[dict[str, Any]], bool],
        timeout: float = FRAME_TIMEOUT_SECONDS,
    ) -> dict[str, Any]:
        """The next frame `wanted` accepts; an `error` frame fails the step."""
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise SmokeFailure(f"no such frame in {timeout:.0f} s")
            try:
                frame = json.loads(socket.recv(timeout=left))
            except TimeoutError:
                continue
            if frame.get("type") == "error":
                raise SmokeFailure(f"error frame: {frame}")
            if wanted(frame):
                return frame

    # -- the flows -------------------------------------------------------------------
    def run(self) -> None:
        username = f"smoke-{secrets.token_hex(6)}"
        password = secrets.token_urlsafe(18)
        with self.step(f"register {username}"):
            auth = self.call(
                "POST", "/auth/register", 201, {"username": username, "password": password}
            )
            self.token = auth["access_token"]
        with self.step("who am I"):
            if self.call("GET", "/auth/me", 200)["username"] != username:
                raise SmokeFailure("GET /auth/me names someone else")
        with self.step("create a room"):
            body: dict[str, Any] = {"name": f"smoke {time.strftime('%Y-%m-%d %H:%M:%S')}"}
            if self.gemini_key:
                body["gemini_api_key"] = self.gemini_key
            room = self.call("POST", "/rooms", 201, body)
        room_id = room["room_id"]
        try:
            self._conversation(room_id, username)
        finally:
            with self.step("leave the room"):
                self.call("DELETE", f"/rooms/{room_id}/members/me", 204)

    def _conversation(self, room_id: str, username: str) -> None:
        with self.step("connect the WebSocket"):
            socket = connect(f"{self.endpoints.ws_url}?token={self.token}", open_timeout=30)
        with socket:
            with self.step("join the room"):
                socket.send(json.dumps({"type": "join", "room_id": room_id}))
                joined = self.frame(socket, lambda f: f.get("type") == "joined")
                if username not in joined.get("online", []):
                    raise SmokeFailure(f"joined frame does not list {username} online: {joined}")
            client_id = str(uuid.uuid4())
            with self.step("send a message over the WebSocket"):
                socket.send(
                    json.dumps(
                        {
                            "type": "message",
                            "room_id": room_id,
                            "content": "smoke test",
                            "client_id": client_id,
                        }
                    )
                )
                ack = self.frame(
                    socket, lambda f: f.get("type") == "message" and f.get("client_id") == client_id
                )
            with self.step("find it in the history"):
                page = self.call("GET", f"/rooms/{room_id}/messages", 200)
                if ack["message_id"] not in [m["message_id"] for m in page["messages"]]:
                    raise SmokeFailure("the message is not in GET /rooms/{id}/messages")
            with self.step("ask the bot and read its answer"):
                self._bot(socket, room_id)

    def _bot(self, socket: ClientConnection, room_id: str) -> None:
        client_id = str(uuid.uuid4())
        socket.send(
            json.dumps(
                {
                    "type": "message",
                    "room_id": room_id,
                    "content": "@bot Reply with one short sentence: the smoke test works.",
                    "client_id": client_id,
                }
            )
        )
        command = self.frame(
            socket, lambda f: f.get("type") == "message" and f.get("client_id") == client_id
        )
        end = self.frame(
            socket,
            lambda f: (
                f.get("reply_to") == command["message_id"]
                and (f.get("type") == "bot_error" or f.get("is_complete") is True)
            ),
            timeout=BOT_TIMEOUT_SECONDS,
        )
        if end["type"] == "bot_stream":
            if not end["full_response"].strip():
                raise SmokeFailure("the bot's answer is empty")
            self.out(f"     the bot answered {len(end['full_response'])} characters")
        elif end["code"] == "no_api_key" and not self.require_answer:
            self.out(
                "     the bot answered no_api_key (queue, worker and pushes work; set "
                "SMOKE_GEMINI_API_KEY or the stack's shared key to reach Gemini too)"
            )
        else:
            raise SmokeFailure(f"the bot failed: {end['code']}: {end['message']}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    target = parser.add_mutually_exclusive_group(required=True)
    target.add_argument("--stack", help="a deployed stack's name (its outputs give the URLs)")
    target.add_argument("--rest-url", help="the REST API's base URL (with the stage)")
    parser.add_argument("--ws-url", help="the WebSocket URL (with --rest-url)")
    parser.add_argument("--region", help="the deployed stack's region (default: AWS's)")
    parser.add_argument(
        "--require-answer", action="store_true", help="no_api_key from the bot is a failure"
    )
    args = parser.parse_args(argv)
    try:
        if args.stack:
            endpoints = stack_endpoints(args.stack, args.region)
        elif args.ws_url:
            endpoints = Endpoints(args.rest_url, args.ws_url)
        else:
            parser.error("--rest-url needs --ws-url")
        print(f"smoke test of {endpoints.rest_url} and {endpoints.ws_url}")
        run = Run(
            endpoints,
            gemini_key=os.environ.get("SMOKE_GEMINI_API_KEY") or None,
            require_answer=args.require_answer,
        )
        run.run()
    except SmokeFailure as exc:
        print(f"smoke test FAILED: {exc}", file=sys.stderr)
        return 1
    print(f"smoke test passed: {len(run.steps)} steps in {sum(s for _, s in run.steps):.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
