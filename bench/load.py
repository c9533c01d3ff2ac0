"""The local stack under load, over real sockets (loopback only; bounded; stops by itself).

It starts the local stack (`python -m local`, free ports) and drives it like clients do:

1. Latency: one sender and one receiver in a room; N messages, one at a time (the next once
   the previous one reached the receiver): sender -> receiver latency percentiles.
2. Load: USERS users in ROOMS rooms (every user a member of one room, its socket joined),
   each sending RATE messages per second (at random phases) for SECONDS seconds. Every
   message must reach every socket of its room exactly once (the sender's as its ack), and
   the room's history must hold every message exactly once. It prints the throughput, the
   delivery latency percentiles, and what was missing or duplicated.

Run: .venv/bin/python bench/load.py [--users 40 --rooms 8 --rate 1.5 --seconds 20]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp

ROOT = Path(__file__).resolve().parent.parent
START_TIMEOUT, DRAIN_TIMEOUT, RUN_LIMIT = 90.0, 30.0, 600.0


# ---------------------------------------------------------------------- the stack
class Stack:
    """`python -m local` on free ports, its output in `workdir/stack.log` (also imported by
    bench/soak.py, which adds `--faults`)."""

    def __init__(self, workdir: Path, concurrency: int | None, extra_args: Sequence[str] = ()):
        self.ready_file = workdir / "ready.json"
        self.log_path = workdir / "stack.log"
        self.log = self.log_path.open("wb")
        args = [
            sys.executable,
            "-m",
            "local",
            *("--rest-port", "0", "--ws-port", "0", "--aws-port", "0", "--s3-port", "0"),
            *("--stack-name", "bench", "--no-reload", "-q"),
            *("--ready-file", str(self.ready_file)),
            *("--parameter-overrides", "BcryptCost=4", "LogLevel=WARNING"),
            "RegistrationsPerAddressPerHour=10000",  # every bench user registers from here
        ]
        if concurrency:
            args += ["--concurrency", str(concurrency)]
        args += extra_args
        environment = {k: v for k, v in os.environ.items() if k != "GEMINI_API_KEY"}
        self.process = subprocess.Popen(  # noqa: S603 - our own module
            args,
            cwd=ROOT,
            env=environment,
            stdin=subprocess.DEVNULL,
            stdout=self.log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self.urls: dict[str, str] = {}

    async def ready(self) -> None:
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                self.log.flush()
                tail = self.log_path.read_text(errors="replace").splitlines()[-20:]
                raise RuntimeError(
                    f"the local stack exited with {self.process.returncode}:\n" + "\n".join(tail)
                )
            if self.ready_file.exists():
                self.urls = json.loads(self.ready_file.read_text())["urls"]
                return
            await asyncio.sleep(0.1)
        raise RuntimeError("the local stack did not start")

    def processes(self) -> Iterator[tuple[int, str, list[str]]]:
        """Each process of the stack (its process group): pid, kind (the gateway serving
        REST, WebSocket, management API and event sources; moto; each function by name),
        and the fields of /proc/pid/stat after the command."""
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                stat = (entry / "stat").read_text()
                command = (entry / "cmdline").read_bytes().split(b"\0")
                environ = (entry / "environ").read_bytes().split(b"\0")
            except OSError:
                continue
            fields = stat[stat.rindex(")") + 2 :].split()
            if int(fields[2]) != self.process.pid:  # process group: the stack's own
                continue
            if b"local.aws_server" in command:
                kind = "moto server"
            elif any(b"lambda_bootstrap" in part for part in command):
                names = [e for e in environ if e.startswith(b"AWS_LAMBDA_FUNCTION_NAME=")]
                kind = names[0].split(b"=", 1)[1].decode() if names else "function"
                kind = kind.removeprefix("bench-")
            else:
                kind = "gateway (python -m local)"
            yield int(entry.name), kind, fields

    def cpu_seconds(self) -> dict[str, float]:
        """CPU time (user + system) used so far by each kind of process of the stack."""
        used: dict[str, float] = defaultdict(float)
        ticks = os.sysconf("SC_CLK_TCK")
        for _, kind, fields in self.processes():
            used[kind] += (int(fields[11]) + int(fields[12])) / ticks
        return used

    def rss(self) -> dict[int, tuple[str, int]]:
        """Each process's resident memory now: pid -> (kind, bytes)."""
        page = os.sysconf("SC_PAGE_SIZE")
        return {pid: (kind, int(fields[21]) * page) for pid, kind, fields in self.processes()}

    def stop(self) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGINT)
        try:
            self.process.wait(20)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()
        self.log.close()


# ---------------------------------------------------------------------- clients
@dataclass
class User:
    username: str
    token: str = ""
    room_id: str = ""
    ws: Any = None
    received: Counter[str] = field(default_factory=Counter)  # client_id -> times
    arrived_at: dict[str, float] = field(default_factory=dict)  # client_id -> first arrival
    errors: list[Any] = field(default_factory=list)


class Run:
    def __init__(self, session: aiohttp.ClientSession, urls: dict[str, str]):
        self.session = session
        self.rest, self.ws_url = urls["rest"], urls["ws"]
        self.sent_at: dict[str, float] = {}  # client_id -> send time
        self.latencies: list[float] = []  # every delivery, seconds
        self.room_of: dict[str, str] = {}  # client_id -> room
        self.arrived = asyncio.Event()
        self.readers: set[asyncio.Task[None]] = set()

    async def call(self, method: str, path: str, body: Any = None, token: str = "") -> Any:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        async with self.session.request(method, self.rest + path, json=body, headers=headers) as r:
            data = await r.json(content_type=None)
            if r.status >= 300:
                raise RuntimeError(f"{method} {path} -> {r.status} {data}")
            return data

    async def register(self, username: str) -> User:
        body = {"username": username, "password": "correct horse battery"}
        data = await self.call("POST", "/auth/register", body)
        return User(username, token=data["access_token"])

    async def connect(self, user: User, room_id: str) -> None:
        user.room_id = room_id
        user.ws = await self.session.ws_connect(f"{self.ws_url}?token={user.token}")
        await user.ws.send_str(json.dumps({"type": "join", "room_id": room_id}))
        while True:
            frame = json.loads((await user.ws.receive(timeout=30)).data)
            if frame.get("type") == "joined":
                break
        reader = asyncio.ensure_future(self.read(user))
        self.readers.add(reader)
        reader.add_done_callback(self.readers.discard)

    async def read(self, user: User) -> None:
        async for message in user.ws:
            if message.type != aiohttp.WSMsgType.TEXT:
                continue
            now = time.monotonic()
            frame = json.loads(message.data)
            if frame.get("type") == "message":
                client_id = frame.get("client_id") or ""
                user.received[client_id] += 1
                if client_id in self.sent_at and user.received[client_id] == 1:
                    user.arrived_at[client_id] = now
                    self.latencies.append(now - self.sent_at[client_id])
                self.arrived.set()
            elif frame.get("type") == "error":
                user.errors.append(frame)

    async def send(self, user: User, content: str) -> str:
        client_id = uuid.uuid4().hex
        self.room_of[client_id] = user.room_id
        self.sent_at[client_id] = time.monotonic()
        frame = {"type": "message", "room_id": user.room_id, "content": content}
        await user.ws.send_str(json.dumps({**frame, "client_id": client_id}))
        return client_id

    async def history(self, token: str, room_id: str) -> list[str]:
        client_ids: list[str] = []
        before = None
        while True:
            query = "?limit=100" + (f"&before={before}" if before else "")
            page = await self.call("GET", f"/rooms/{room_id}/messages{query}", token=token)
            client_ids += [m.get("client_id") or "" for m in page["messages"]]
            before = page["next_before"]
            if not before:
                return client_ids


async def wait_until(predicate, timeout: float, event: asyncio.Event) -> bool:
    deadline = time.monotonic() + timeout
    while not predicate():
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return False
        event.clear()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(event.wait(), min(remaining, 0.5))
    return True


def percentiles(values: list[float]) -> str:
    if not values:
        return "no samples"
    ordered = sorted(values)

    def at(q: float) -> float:
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000

    return (
        f"p50 {at(0.50):.1f} ms, p95 {at(0.95):.1f} ms, p99 {at(0.99):.1f} ms, "
        f"max {ordered[-1] * 1000:.1f} ms (n={len(ordered)})"
    )


# ---------------------------------------------------------------------- phases
async def latency_phase(run: Run, count: int) -> list[float]:
    sender, receiver = await asyncio.gather(run.register(_name("a")), run.register(_name("b")))
    room = await run.call("POST", "/rooms", {"name": "latency"}, sender.token)
    await run.call("POST", "/rooms/join", {"code": room["code"]}, receiver.token)
    await run.connect(sender, room["room_id"])
    await run.connect(receiver, room["room_id"])
    samples = []
    for index in range(count + 5):  # the first 5 warm up
        client_id = await run.send(sender, f"latency {index}")

        def both(client_id: str = client_id) -> bool:
            return bool(receiver.received[client_id] and sender.received[client_id])

        if not await wait_until(both, 10, run.arrived):
            raise RuntimeError(f"message {index} did not arrive in 10 s")
        if index >= 5:
            samples.append(receiver.arrived_at[client_id] - run.sent_at[client_id])
    for user in (sender, receiver):
        await user.ws.close()
    return samples


async def load_phase(
    run: Run, stack: Stack, users: int, rooms: int, rate: float, seconds: float
) -> bool:
    people = await asyncio.gather(*(run.register(_name("u")) for _ in range(users)))
    by_room: dict[str, list[User]] = defaultdict(list)
    for start in range(rooms):
        members = people[start::rooms]
        owner = members[0]
        room = await run.call("POST", "/rooms", {"name": f"load {start}"}, owner.token)
        for member in members[1:]:
            await run.call("POST", "/rooms/join", {"code": room["code"]}, member.token)
        by_room[room["room_id"]] = members
    for room_id, members in by_room.items():
        await asyncio.gather(*(run.connect(member, room_id) for member in members))
    run.latencies.clear()

    sent: list[str] = []

    async def talk(user: User) -> None:
        await asyncio.sleep(random.random() / rate)
        deadline = time.monotonic() + seconds
        next_at = time.monotonic()
        index = 0
        while next_at < deadline:
            sent.append(await run.send(user, f"{user.username} says {index}"))
            index += 1
            next_at += 1 / rate
            await asyncio.sleep(max(0.0, next_at - time.monotonic()))

    cpu_before = stack.cpu_seconds()
    started = time.monotonic()
    await asyncio.gather(*(talk(user) for user in people))
    sending = time.monotonic() - started

    def delivered_all() -> bool:
        return all(
            member.received[client_id] >= 1
            for client_id in sent
            for member in by_room[run.room_of[client_id]]
        )

    drained = await wait_until(delivered_all, DRAIN_TIMEOUT, run.arrived)
    total = time.monotonic() - started
    cpu = stack.cpu_seconds()
    await asyncio.sleep(1.0)  # late duplicates would show up now

    expected = sum(len(by_room[run.room_of[c]]) for c in sent)
    missing = duplicated = 0
    for client_id in sent:
        for member in by_room[run.room_of[client_id]]:
            times = member.received[client_id]
            missing += times == 0
            duplicated += max(0, times - 1)
    history_bad = 0
    for room_id, members in by_room.items():
        stored = Counter(await run.history(members[0].token, room_id))
        mine = [c for c in sent if run.room_of[c] == room_id]
        history_bad += sum(1 for c in mine if stored[c] != 1)
    errors = [frame for user in people for frame in user.errors]
    print(
        f"  offered {len(sent)} messages in {sending:.1f} s ({len(sent) / sending:.1f}/s); "
        f"{expected} deliveries expected; all delivered after {total:.1f} s"
        f" ({len(sent) / total:.1f} messages/s, {expected / total:.0f} frames/s)"
        if drained
        else f"  offered {len(sent)} messages; NOT all delivered within {DRAIN_TIMEOUT:.0f} s of the end"
    )
    print(f"  delivery latency: {percentiles(run.latencies)}")
    print(
        f"  exactly once: {missing} missing, {duplicated} duplicated; history: "
        f"{history_bad} messages not stored exactly once; error frames: {len(errors)}"
    )
    spent = {kind: cpu[kind] - cpu_before.get(kind, 0.0) for kind in cpu}
    print(
        f"  CPU of the stack per message: {sum(spent.values()) / len(sent) * 1000:.1f} ms ("
        + ", ".join(
            f"{kind} {value / len(sent) * 1000:.1f}"
            for kind, value in sorted(spent.items(), key=lambda item: -item[1])
            if value > 0.005
        )
        + ")"
    )
    for user in people:
        await user.ws.close()
    return drained and not missing and not duplicated and not history_bad and not errors


def _name(prefix: str) -> str:
    return f"{prefix}{uuid.uuid4().hex[:10]}"


async def main(args: argparse.Namespace) -> int:
    with tempfile.TemporaryDirectory() as workdir:
        stack = Stack(Path(workdir), args.concurrency)
        try:
            await stack.ready()
            connector = aiohttp.TCPConnector(limit=0)
            async with aiohttp.ClientSession(connector=connector) as session:
                run = Run(session, stack.urls)
                print(f"Latency, one sender, sequential ({args.latency} messages):")
                samples = await latency_phase(run, args.latency)
                print(f"  sender -> receiver: {percentiles(samples)}")
                print(
                    f"Load: {args.users} users in {args.rooms} rooms, {args.rate} messages/s each,"
                    f" {args.seconds:.0f} s:"
                )
                ok = await load_phase(
                    Run(session, stack.urls), stack, args.users, args.rooms, args.rate, args.seconds
                )
        finally:
            stack.stop()
    print("everything exactly once" if ok else "FAILED: see above")
    return 0 if ok else 1


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=40)
    parser.add_argument("--rooms", type=int, default=8)
    parser.add_argument("--rate", type=float, default=1.5, help="messages per second per user")
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--latency", type=int, default=100, help="sequential messages")
    parser.add_argument(
        "--concurrency", type=int, help="workers per function (the stack's default)"
    )
    arguments = parser.parse_args()
    signal.signal(signal.SIGALRM, lambda *_: sys.exit("bench/load.py: over its time limit"))
    signal.alarm(int(RUN_LIMIT))
    sys.exit(asyncio.run(main(arguments)))
