"""Soak: the local stack with faults on, under mixed traffic for minutes, checked from the
clients' view.

It starts the local stack (`python -m local --faults … --fault-seed …`, free ports; see
docs/local-stack.md) and drives it as chat clients do. USERS users in ROOMS rooms (each user a
member of one room, its WebSocket joined) each send RATE messages per second:

- over the WebSocket (most) or REST, each with a `client_id`; a send that gets no ack within
  ACK_TIMEOUT, an `internal` error, a 5xx or a broken connection is sent again with the same
  `client_id` (up to 4 attempts, with backoff), as the contract allows ("Retries are safe");
- some are bot commands (a few asking for a slow answer), answered by the fake Gemini;
- users edit their own recent messages and react to recent ones (REST, retried alike);
- every user reconnects every few minutes (and whenever its socket drops), joins again and
  catches up with `GET …/messages?after=<id>`, from the newest id it had received 10 s
  before its last joined connection ended (a message's push can arrive after a newer one's:
  its id is taken before it is stored, and a push may be retried).

Then, from what the clients saw and the rooms' history:
- every acknowledged message is stored exactly once ("stored twice", "lost");
- every message is delivered exactly once to each session that stayed connected while it was
  stored ("missed live", "duplicated"), and is in every user's view at the end, live or by
  `after=` catch-up ("gaps": what catching up cannot find);
- every bot command is answered once and every answer ended (not left `streaming`), its final
  frame's `full_response` the stored text;
- every acknowledged edit and reaction is in the history;
- each local process's memory is flat (RSS after the warm-up and at the end; moto's grows with
  the data it holds, so its growth per stored message is printed instead).

It prints examples of each failure, then one line of figures, and exits 1 if a check failed.
Run: PYTHONPATH=.:layers/shared .venv/bin/python bench/soak.py [--minutes 20] (or `make soak
ARGS="--minutes 5"`).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import random
import re
import signal
import sys
import tempfile
import time
import uuid
from collections import Counter, defaultdict, deque
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

import aiohttp

from bench.load import Stack

DEFAULT_FAULTS = "dynamodb=0.05,management_api=0.05,sqs=0.02,gemini=0.05"
EMOJIS = ["👍", "🎉", "❤️", ":tada:", "👀", "🚀"]
ATTEMPTS = 4  # per send, edit or reaction: the first and three retries
REST_TIMEOUT = 10.0
JOIN_TIMEOUT = 20.0  # to open a socket
JOIN_WAIT = 15.0  # for `joined`, before sending `join` again (its push is retried: rarely lost)
FIRST_ID = "0" * 26  # sorts before every message id (ULIDs)
CATCH_UP_OVERLAP = 10.0  # a catch-up starts from what was received this long before
LIVE_MARGIN = (1.0, 10.0)  # a session must get live what was stored 1 s after its join …
# … and 10 s before it closed (a push may wait for DynamoDB retries before it goes out)
# For bot answers to end after the traffic: longer than a command can be held back. A lost
# write of the worker's own in-progress record holds its command for the rest of that
# invocation (up to the worker's Timeout, 120 s) plus 5 s (chat.transport.sqs).
DRAIN_SECONDS = 180.0
MEMORY_SLACK = (16 * 2**20, 0.10)  # flat: grew by less than 16 MiB or 10 %
MEMORY_MIN_MINUTES = 2.0  # a shorter run's memory is printed, not judged
EXAMPLES = 3
# What a client retries: our `internal`, and API Gateway's own frames for a failed function.
RETRIED_ERRORS = frozenset({"internal", "Internal server error", "Endpoint request timed out"})


def _wall(iso: str) -> float:
    return datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp()


# ---------------------------------------------------------------------- what clients saw
@dataclass
class Send:
    client_id: str
    user: str
    room_id: str
    content: str
    command: bool
    attempts: list[str] = field(default_factory=list)  # what each attempt met
    acked: list[str] = field(default_factory=list)  # message ids acknowledged (1 is right)
    outcome: str = "pending"  # acked | failed | rate_limited | rejected


@dataclass
class Session:
    """One connection of a user, joined to its room."""

    user: str
    number: int
    opened_at: float
    joined_at: float | None = None
    closed_at: float | None = None
    closed_by: str = ""  # planned | dropped | end
    messages: Counter[str] = field(default_factory=Counter)  # `message` frames per id
    bot: set[str] = field(default_factory=set)  # bot answers it saw frames of
    finals: dict[str, str] = field(default_factory=dict)  # answer id -> full_response
    caught_up_after: str = ""  # the `after=` of its catch-up (a reconnect's)


@dataclass
class User:
    name: str
    token: str = ""
    room_id: str = ""
    ws: Any = None
    joined: asyncio.Event = field(default_factory=asyncio.Event)
    sessions: list[Session] = field(default_factory=list)
    cursor: str = ""  # the newest message id received
    unfinished: str = ""  # where a catch-up that failed stopped: the next one starts there
    # (when, id) of each message received, live or caught up: the `after=` of a catch-up
    received: deque[tuple[float, str]] = field(default_factory=lambda: deque(maxlen=2000))
    view: set[str] = field(default_factory=set)  # every message id seen, live or caught up
    caught_up: int = 0
    mine: deque[str] = field(default_factory=lambda: deque(maxlen=5))  # own text messages
    recent: deque[str] = field(default_factory=lambda: deque(maxlen=20))  # the room's
    outstanding: tuple[str, asyncio.Future[tuple[str, str]]] | None = None
    editing: asyncio.Lock = field(default_factory=asyncio.Lock)

    def see(self, message_id: str) -> None:
        self.view.add(message_id)
        self.cursor = max(self.cursor, message_id)
        self.received.append((time.time(), message_id))

    def catch_up_from(self, lost_at: float) -> str:
        """The `after=` of a catch-up for frames lost from `lost_at` on: the newest id
        received CATCH_UP_OVERLAP before (else the room's first). Not the newest id
        received: ids are taken before the message is stored, and a push can be late
        (retried), so a newer message may arrive before an older one."""
        older = [message_id for at, message_id in self.received if at <= lost_at - CATCH_UP_OVERLAP]
        return max(older, default=FIRST_ID)  # nothing received by then: from the beginning


@dataclass
class Edit:
    user: str
    room_id: str
    message_id: str
    content: str
    acked: bool = False


@dataclass
class Reaction:
    user: str
    room_id: str
    message_id: str
    emoji: str
    acked: bool = False


class Run:
    def __init__(self, session: aiohttp.ClientSession, urls: dict[str, str], args: Any):
        self.http = session
        self.rest, self.ws_url = urls["rest"], urls["ws"]
        self.args = args
        self.users: list[User] = []
        self.sends: dict[str, Send] = {}
        self.edits: list[Edit] = []
        self.reactions: list[Reaction] = []
        self.error_frames: Counter[str] = Counter()
        self.first_seen: dict[str, float] = {}  # message id -> first frame of it, anyone's
        self.catch_ups_failed = 0
        self.join_retries = 0
        self.rest_failures: Counter[str] = Counter()
        self.started_at = 0.0  # wall clock, once everyone has joined
        self.stopping = False
        self.tasks: set[asyncio.Task[Any]] = set()

    # ------------------------------------------------------------------ REST
    async def call(
        self, method: str, path: str, body: Any = None, token: str = "", *, retry: bool = True
    ) -> tuple[int | None, Any]:
        """(status, body), retried on 5xx, timeouts and broken connections as a client
        would (`retry=False`: one attempt); (None, reason) when every attempt failed so."""
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        reason: Any = None
        attempts = ATTEMPTS if retry else 1
        for attempt in range(1, attempts + 1):
            try:
                async with self.http.request(
                    method,
                    self.rest + path,
                    json=body,
                    headers=headers,
                    timeout=aiohttp.ClientTimeout(total=REST_TIMEOUT),
                ) as response:
                    data = await response.json(content_type=None)
                    if response.status < 500 or attempt == attempts:
                        return response.status, data
                    reason = f"{response.status}"
            except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
                reason = type(exc).__name__
            self.rest_failures[f"{method} {reason}"] += 1
            if attempt < attempts:
                await asyncio.sleep(_backoff(attempt))
        return None, reason

    async def history(self, room_id: str, token: str) -> list[dict[str, Any]]:
        """A room's whole history, oldest first."""
        messages: list[dict[str, Any]] = []
        before = None
        while True:
            query = "?limit=100" + (f"&before={before}" if before else "")
            status, page = await self.call("GET", f"/rooms/{room_id}/messages{query}", token=token)
            if status != 200:
                raise RuntimeError(f"history of {room_id}: {status} {page}")
            messages = page["messages"] + messages
            before = page["next_before"]
            if not before:
                return messages

    # ------------------------------------------------------------------ setup
    async def register(self, name: str) -> User:
        body = {"username": name, "password": "correct horse battery"}
        status, data = await self.call("POST", "/auth/register", body)
        if status == 409:  # an attempt that was answered 5xx had registered it
            status, data = await self.call("POST", "/auth/login", body)
        if status not in (200, 201):
            raise RuntimeError(f"register {name}: {status} {data}")
        return User(name, token=data["access_token"])

    async def setup(self) -> None:
        args = self.args
        people = await asyncio.gather(
            *(self.register(f"s{uuid.uuid4().hex[:10]}") for _ in range(args.users))
        )
        for index in range(args.rooms):
            members = people[index :: args.rooms]
            status, room = await self.call(
                "POST", "/rooms", {"name": f"soak {index}"}, members[0].token
            )
            if status != 201:
                raise RuntimeError(f"create a room: {status} {room}")
            for member in members:
                member.room_id = room["room_id"]
                if member is not members[0]:
                    status, joined = await self.call(
                        "POST", "/rooms/join", {"code": room["code"]}, member.token
                    )
                    if status != 200:
                        raise RuntimeError(f"join a room: {status} {joined}")
        self.users = list(people)
        for user in self.users:
            self.spawn(self.connection(user))
        await asyncio.wait_for(asyncio.gather(*(user.joined.wait() for user in self.users)), 300)

    def spawn(self, coroutine: Any) -> asyncio.Task[Any]:
        task = asyncio.ensure_future(coroutine)
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)
        return task

    # ------------------------------------------------------------------ connections
    async def connection(self, user: User) -> None:
        """Connect, join, catch up, read; reconnect when it drops or is due to."""
        number = 0
        while not self.stopping:
            # From before the last joined connection ended (what came live since is still
            # to be checked), taken before connecting: what comes on the new connection
            # (live frames may arrive before the catch-up's answer) must not move it.
            joined_until = [s.closed_at or time.time() for s in user.sessions if s.joined_at]
            after = user.catch_up_from(max(joined_until, default=time.time()))
            after = min(after, user.unfinished or after)  # a catch-up that failed goes on
            session = Session(user.name, number, opened_at=time.time())
            try:
                ws = await asyncio.wait_for(
                    self.http.ws_connect(f"{self.ws_url}?token={user.token}", heartbeat=None),
                    JOIN_TIMEOUT,
                )
            except (aiohttp.ClientError, TimeoutError):
                await asyncio.sleep(_backoff(1))
                continue
            user.ws = ws
            user.sessions.append(session)
            reader = asyncio.ensure_future(self.read(user, session, ws))
            joined = await self.join(user, reader)
            if number > 0 and joined:
                session.caught_up_after = after
                await self.catch_up(user, after)
            due = time.monotonic() + self.args.reconnect_every * random.uniform(0.5, 1.5)
            while joined and not reader.done() and not self.stopping and time.monotonic() < due:
                await asyncio.wait({reader}, timeout=1.0)
            session.closed_by = (
                "dropped"
                if reader.done()
                else "end"
                if self.stopping
                else "planned"
                if joined
                else "not joined"
            )
            user.joined.clear()  # sends go by REST from now on
            if session.closed_by == "planned":  # as an app does: once its send is answered
                for _ in range(int(self.args.ack_timeout * 10)):
                    if user.outstanding is None or reader.done():
                        break
                    await asyncio.sleep(0.1)
            await ws.close()
            with contextlib.suppress(Exception):
                await reader
            session.closed_at = time.time()
            number += 1
            if not self.stopping:
                await asyncio.sleep(random.uniform(0.2, 1.0))

    async def join(self, user: User, reader: asyncio.Future[None]) -> bool:
        """Send `join` until `joined` comes (its reply is a push, which can fail too)."""
        for attempt in range(ATTEMPTS):
            if attempt:
                self.join_retries += 1
            try:
                await user.ws.send_str(json.dumps({"type": "join", "room_id": user.room_id}))
            except (aiohttp.ClientError, ConnectionError, RuntimeError):
                return False
            joined = asyncio.ensure_future(user.joined.wait())
            await asyncio.wait({joined, reader}, timeout=JOIN_WAIT, return_when="FIRST_COMPLETED")
            joined.cancel()
            if user.joined.is_set():
                return True
            if reader.done():
                return False
        return False

    async def read(self, user: User, session: Session, ws: Any) -> None:
        try:
            async for message in ws:
                if message.type == aiohttp.WSMsgType.TEXT:
                    self.frame(user, session, json.loads(message.data))
        finally:
            self.settle(user, ("closed", ""))

    def frame(self, user: User, session: Session, frame: dict[str, Any]) -> None:
        kind = frame.get("type")
        if kind == "joined":
            session.joined_at = time.time()
            user.joined.set()
        elif kind == "message":
            message_id = frame["message_id"]
            self.first_seen.setdefault(message_id, time.time())
            session.messages[message_id] += 1
            user.see(message_id)
            if not frame.get("is_bot") and frame.get("message_type") == "text":
                user.recent.append(message_id)
            send = self.sends.get(frame.get("client_id") or "")
            if send is not None and frame.get("username") == user.name:
                if message_id not in send.acked:
                    send.acked.append(message_id)
                self.settle(user, ("ack", message_id), send.client_id)
        elif kind in ("bot_stream", "bot_error"):
            session.bot.add(frame["message_id"])
            user.see(frame["message_id"])
            if kind == "bot_stream" and frame.get("is_complete"):
                session.finals[frame["message_id"]] = frame.get("full_response") or ""
        elif kind == "error" or (kind is None and "message" in frame):
            # an `error` frame, or API Gateway's own ("Internal server error", a timeout)
            code = frame.get("code") or frame.get("message") or "?"
            self.error_frames[code] += 1
            if frame.get("request_type") in ("message", None):
                self.settle(user, ("error", code))

    @staticmethod
    def settle(user: User, outcome: tuple[str, str], client_id: str | None = None) -> None:
        """The outcome of the user's send waiting for one (of that `client_id`, if given)."""
        waiting = user.outstanding
        if waiting is not None and client_id in (None, waiting[0]) and not waiting[1].done():
            waiting[1].set_result(outcome)

    async def catch_up(self, user: User, after: str) -> None:
        """Page forwards from `after`; one that fails is left to the next catch-up (it starts
        from where this one stopped, at the latest)."""
        while after:
            path = f"/rooms/{user.room_id}/messages?limit=100&after={after}"
            status, page = await self.call("GET", path, token=user.token)
            if status != 200:
                self.catch_ups_failed += 1
                user.unfinished = min(user.unfinished or after, after)
                return
            for message in page["messages"]:
                user.see(message["message_id"])
                user.caught_up += 1
            after = page["next_after"]
        user.unfinished = ""

    # ------------------------------------------------------------------ traffic
    async def talk(self, user: User, until: float) -> None:
        await asyncio.sleep(random.random() / self.args.rate)
        next_at, index = time.monotonic(), 0
        while time.monotonic() < until:
            if random.random() < self.args.edit_share:
                self.spawn(self.edit(user))
            if random.random() < self.args.reaction_share:
                self.spawn(self.react(user))
            await self.send(user, index)  # one at a time: a slow send delays the next …
            index += 1
            # … and the ticks it took are skipped, not sent in a burst
            next_at = max(next_at + 1 / self.args.rate, time.monotonic())
            await asyncio.sleep(max(0.0, next_at - time.monotonic()))

    async def send(self, user: User, index: int) -> None:
        command = random.random() < self.args.bot_share
        if command:
            slow = " [fake:tokens=40,seconds=2]" if random.random() < 0.25 else ""
            content = f"@bot soak question {index} from {user.name}{slow}"
        else:
            content = f"{user.name} says {index}"
        send = Send(uuid.uuid4().hex, user.name, user.room_id, content, command)
        self.sends[send.client_id] = send
        by_rest = random.random() < self.args.rest_share
        for attempt in range(1, ATTEMPTS + 1):
            if by_rest or user.ws is None or user.ws.closed or not user.joined.is_set():
                outcome, detail = await self.send_by_rest(send)
            else:
                outcome, detail = await self.send_by_socket(user, send)
            send.attempts.append(f"{outcome} {detail}".strip())
            if outcome == "ack":
                user.view.add(detail)  # seen, not received in order: the cursor stays
                send.outcome = "acked"
                if detail not in send.acked:
                    send.acked.insert(0, detail)
                if not command:
                    user.mine.append(detail)
                return
            if outcome in ("rate_limited", "rejected"):
                send.outcome = outcome
                return
            await asyncio.sleep(_backoff(attempt))
        send.outcome = "failed"

    async def send_by_socket(self, user: User, send: Send) -> tuple[str, str]:
        future: asyncio.Future[tuple[str, str]] = asyncio.get_running_loop().create_future()
        user.outstanding = (send.client_id, future)
        frame = {
            "type": "message",
            "room_id": send.room_id,
            "content": send.content,
            "client_id": send.client_id,
        }
        try:
            await user.ws.send_str(json.dumps(frame))
            outcome, detail = await asyncio.wait_for(asyncio.shield(future), self.args.ack_timeout)
        except TimeoutError:
            return "ws-timeout", ""
        except (aiohttp.ClientError, ConnectionError, RuntimeError):
            return "ws-closed", ""
        finally:
            user.outstanding = None
        if outcome == "ack":
            return outcome, detail
        if outcome == "closed":
            return "ws-closed", ""
        if detail == "rate_limited":
            return "rate_limited", ""
        if detail in RETRIED_ERRORS:
            return "ws-error", detail
        return "rejected", detail

    async def send_by_rest(self, send: Send) -> tuple[str, str]:
        user = next(u for u in self.users if u.name == send.user)
        body = {"content": send.content, "client_id": send.client_id}
        status, data = await self.call(
            "POST", f"/rooms/{send.room_id}/messages", body, user.token, retry=False
        )
        if status in (200, 201):
            return "ack", data["message_id"]
        if status == 429:
            return "rate_limited", ""
        if status is not None and status < 500:
            return "rejected", str(status)
        return "rest-failed", str(status if status is not None else data)

    async def edit(self, user: User) -> None:
        if not user.mine or user.editing.locked():
            return
        async with user.editing:  # one edit at a time per user: their order is known
            message_id = random.choice(list(user.mine))
            edit = Edit(
                user.name, user.room_id, message_id, f"{user.name} edited {uuid.uuid4().hex[:6]}"
            )
            self.edits.append(edit)
            status, _ = await self.call(
                "PATCH",
                f"/rooms/{user.room_id}/messages/{message_id}",
                {"content": edit.content},
                user.token,
            )
            edit.acked = status == 200

    async def react(self, user: User) -> None:
        if not user.recent:
            return
        reaction = Reaction(
            user.name,
            user.room_id,
            random.choice(list(user.recent)),
            random.choice(EMOJIS),
        )
        self.reactions.append(reaction)
        path = (
            f"/rooms/{user.room_id}/messages/{reaction.message_id}"
            f"/reactions/{quote(reaction.emoji, safe='')}"
        )
        status, _ = await self.call("PUT", path, token=user.token)
        reaction.acked = status == 200


def _backoff(attempt: int) -> float:
    return random.uniform(0.5, 1.0) * 2 ** (attempt - 1)


# ---------------------------------------------------------------------- memory
@dataclass
class Memory:
    """RSS of every process of the stack: after the warm-up, at half time and at the end.
    Flat means no growth in the second half (the first may still load code paths that
    faults reach first)."""

    samples: dict[str, dict[int, tuple[str, int]]] = field(default_factory=dict)

    def by_kind(self, when: str) -> dict[str, tuple[int, int]]:
        """kind -> (processes, total bytes) at one sample."""
        kinds: dict[str, tuple[int, int]] = {}
        for kind, rss in self.samples.get(when, {}).values():
            count, total = kinds.get(kind, (0, 0))
            kinds[kind] = (count + 1, total + rss)
        return kinds

    def growth(self, first: str, last: str) -> dict[int, tuple[str, int, int]]:
        """Each process alive at both samples: pid -> (kind, RSS then, RSS later)."""
        later = self.samples.get(last, {})
        return {
            pid: (kind, rss, later[pid][1])
            for pid, (kind, rss) in self.samples.get(first, {}).items()
            if pid in later
        }

    def not_flat(self) -> list[str]:
        slack, share = MEMORY_SLACK
        return [
            f"{kind} (pid {pid}) {_mib(mid)} MiB at half time -> {_mib(end)} MiB at the end"
            for pid, (kind, mid, end) in self.growth("mid", "end").items()
            if kind != "moto server" and end - mid > max(slack, share * mid)
        ]


def _mib(value: float) -> str:
    return f"{value / 2**20:.0f}"


# ---------------------------------------------------------------------- checks
@dataclass
class Findings:
    """Each failure class: its count and a few examples."""

    counts: Counter[str] = field(default_factory=Counter)
    examples: dict[str, list[str]] = field(default_factory=lambda: defaultdict(list))

    def add(self, kind: str, example: str, count: int = 1) -> None:
        self.counts[kind] += count
        if len(self.examples[kind]) < EXAMPLES:
            self.examples[kind].append(example)


FAILURES = (
    "stored twice",
    "lost",
    "missed live",
    "duplicated",
    "gaps",
    "answers stuck streaming",
    "commands answered twice",
    "commands never answered",
    "answer text differs",
    "edits lost",
    "reactions lost",
    "memory not flat",
)


def check(run: Run, histories: dict[str, list[dict[str, Any]]], memory: Memory) -> Findings:
    findings = Findings()
    _check_stored(run, histories, findings)
    _check_delivered(run, histories, findings)
    _check_bot(run, histories, findings)
    _check_edits_and_reactions(run, histories, findings)
    if run.args.minutes >= MEMORY_MIN_MINUTES:  # shorter: still loading what faults reach
        for line in memory.not_flat():
            findings.add("memory not flat", line)
    return findings


def _check_stored(run: Run, histories: dict[str, list[dict[str, Any]]], findings: Findings) -> None:
    stored: dict[str, list[str]] = defaultdict(list)
    for messages in histories.values():
        for message in messages:
            if message.get("client_id") and not message.get("is_bot"):
                stored[message["client_id"]].append(message["message_id"])
    for send in run.sends.values():
        ids = stored.get(send.client_id, [])
        story = f"client_id {send.client_id} ({send.content[:40]!r}): attempts {send.attempts}"
        if len(ids) > 1:
            findings.add("stored twice", f"{story}; stored as {ids}")
            findings.counts[f"stored twice after {send.attempts[0].split()[0]}"] += 1
        elif send.outcome == "acked" and not ids:
            findings.add("lost", f"{story}; acknowledged as {send.acked}, not in the history")
        elif send.outcome != "acked" and ids:
            findings.counts["stored though the client gave up"] += 1


def _check_delivered(
    run: Run, histories: dict[str, list[dict[str, Any]]], findings: Findings
) -> None:
    ended_at = time.time()
    retried = {s.client_id for s in run.sends.values() if len(s.attempts) > 1}
    stored = Counter(
        m.get("client_id")
        for messages in histories.values()
        for m in messages
        if m.get("client_id")
    )
    twice = {client_id for client_id, times in stored.items() if times > 1}
    for user in run.users:
        # (id, when stored, a bot answer?, its author retried it?) of the room's messages
        messages = [
            (
                m["message_id"],
                _wall(m["created_at"]),
                bool(m.get("is_bot")),
                m.get("username") == user.name and m.get("client_id") in retried,
                m,
            )
            for m in histories[user.room_id]
            if _wall(m["created_at"]) >= run.started_at
        ]
        for message_id, stored_at, _, _, message in messages:
            if message_id not in user.view:
                copy = " (a retried send's copy)" if message.get("client_id") in twice else ""
                findings.add(
                    "gaps",
                    f"{user.name} never saw {message_id}{copy} ({message['content'][:30]!r}), "
                    f"created {message['created_at']}, "
                    + _why_missed(user, message_id, stored_at, run.first_seen.get(message_id)),
                )
        for session in user.sessions:
            if session.joined_at is None:
                continue
            start = session.joined_at + LIVE_MARGIN[0]
            end = (session.closed_at or ended_at) - LIVE_MARGIN[1]
            for message_id, stored_at, is_bot, retried_by_me, message in messages:
                times = len(session.bot & {message_id}) if is_bot else session.messages[message_id]
                if start < stored_at < end:
                    findings.counts["deliveries expected"] += 1
                    if not times:
                        findings.add(
                            "missed live",
                            f"{user.name}'s session {_session_story(session)} got no frame of "
                            f"{message_id} stored {message['created_at']}",
                        )
                if times > 1 and not retried_by_me:  # a retry's ack may come again
                    findings.add(
                        "duplicated",
                        f"{user.name} got {message_id} {times} times in one session",
                        times - 1,
                    )


def _why_missed(user: User, message_id: str, stored_at: float, pushed_at: float | None) -> str:
    """Why neither a push nor a catch-up brought it: the sessions around its push."""
    if pushed_at is None:
        return "pushed to nobody"
    story = f"first pushed {pushed_at - stored_at:.1f} s later"
    for session in user.sessions:
        if session.joined_at and session.joined_at <= pushed_at <= (session.closed_at or 1e12):
            return f"{story}, while session {_session_story(session)} was joined: its push was lost"
    later = [s for s in user.sessions if s.joined_at and s.joined_at > pushed_at]
    if later and later[0].caught_up_after > message_id:
        return (
            f"{story}, while reconnecting; the next catch-up began after= "
            f"{later[0].caught_up_after}, a newer id received before it was stored"
        )
    return f"{story}; sessions: " + ", ".join(_session_story(s) for s in user.sessions)


def _session_story(session: Session) -> str:
    def clock(moment: float | None) -> str:
        return time.strftime("%H:%M:%S", time.gmtime(moment)) if moment else "-"

    after = f" after={session.caught_up_after}" if session.caught_up_after else ""
    return (
        f"#{session.number} {clock(session.joined_at)}-{clock(session.closed_at)}"
        f" ({session.closed_by or 'open'}{after})"
    )


def _check_bot(run: Run, histories: dict[str, list[dict[str, Any]]], findings: Findings) -> None:
    finals: dict[str, set[str]] = defaultdict(set)
    for user in run.users:
        for session in user.sessions:
            for message_id, text in session.finals.items():
                finals[message_id].add(text)
    for messages in histories.values():
        answers: dict[str, list[dict[str, Any]]] = defaultdict(list)
        for message in messages:
            if message.get("is_bot"):
                answers[message.get("reply_to") or ""].append(message)
                if message["status"] == "streaming":
                    findings.add(
                        "answers stuck streaming",
                        f"{message['message_id']} (to {message.get('reply_to')}) still streaming "
                        f"with {len(message['content'])} characters",
                    )
                for text in finals.get(message["message_id"], ()):
                    if message["status"] == "complete" and text != message["content"]:
                        findings.add(
                            "answer text differs",
                            f"{message['message_id']}: final frame {text[:40]!r}, stored "
                            f"{message['content'][:40]!r}",
                        )
                findings.counts[f"answers {message['status']}"] += 1
        for message in messages:
            if message.get("message_type") != "command":
                continue
            findings.counts["commands"] += 1
            mine = answers.get(message["message_id"], [])
            if len(mine) > 1:
                findings.add(
                    "commands answered twice",
                    f"{message['message_id']} ({message['content'][:30]!r}): answers "
                    + ", ".join(f"{a['message_id']} {a['status']}" for a in mine),
                )
            elif not mine:
                send = run.sends.get(message.get("client_id") or "")
                findings.add(
                    "commands never answered",
                    f"{message['message_id']} ({message['content'][:30]!r}), command status "
                    f"{message['status']}, sent: {send.attempts if send else '?'}",
                )


def _check_edits_and_reactions(
    run: Run, histories: dict[str, list[dict[str, Any]]], findings: Findings
) -> None:
    by_id = {m["message_id"]: m for messages in histories.values() for m in messages}
    edits: dict[str, list[Edit]] = defaultdict(list)
    for edit in run.edits:
        edits[edit.message_id].append(edit)
    for message_id, attempts in edits.items():
        acked = [index for index, edit in enumerate(attempts) if edit.acked]
        if not acked:
            continue
        allowed = {edit.content for edit in attempts[acked[-1] :]}
        stored = by_id.get(message_id, {}).get("content")
        if stored not in allowed:
            findings.add(
                "edits lost",
                f"{message_id}: stored {stored!r}, last acknowledged edit {attempts[acked[-1]].content!r}",
            )
    for reaction in run.reactions:
        if not reaction.acked:
            continue
        message = by_id.get(reaction.message_id, {})
        names = {
            name
            for entry in message.get("reactions") or []
            if entry["emoji"] == reaction.emoji
            for name in entry["usernames"]
        }
        if reaction.user not in names:
            findings.add(
                "reactions lost",
                f"{reaction.user}'s {reaction.emoji} on {reaction.message_id}: acknowledged, "
                "not in the history",
            )


# ---------------------------------------------------------------------- the run
FAULT_LINE = re.compile(r"faults: (\S+) (\d+)/(\d+) calls \((.*)\)")


def injected_faults(log: str) -> dict[str, str]:
    """Each service's `injected/calls (kinds)` from the stack's summary lines."""
    return {
        match.group(1): f"{match.group(2)}/{match.group(3)} ({match.group(4)})"
        for match in FAULT_LINE.finditer(log)
    }


async def traffic(run: Run, stack: Stack, seconds: float) -> Memory:
    """The traffic, with progress lines; memory sampled after the warm-up and at the end."""
    started = time.monotonic()
    until = started + seconds
    run.started_at = time.time()
    talkers = [run.spawn(run.talk(user, until)) for user in run.users]
    samples = {"start": min(60.0, seconds / 4), "mid": seconds / 2}
    memory = Memory()
    next_report = started + 60
    while time.monotonic() < until:
        await asyncio.sleep(1.0)
        now = time.monotonic()
        for when, at in samples.items():
            if when not in memory.samples and now - started >= at:
                memory.samples[when] = stack.rss()
        if now >= next_report:
            next_report += 60
            sends = run.sends.values()
            print(
                f"  [{now - started:4.0f} s] sent {len(sends)}, acked "
                f"{sum(s.outcome == 'acked' for s in sends)}, retried "
                f"{sum(len(s.attempts) > 1 for s in sends)}, sessions "
                f"{sum(len(u.sessions) for u in run.users)}",
                flush=True,
            )
    await asyncio.gather(*talkers)
    memory.samples["end"] = stack.rss()
    return memory


async def drain(run: Run) -> dict[str, list[dict[str, Any]]]:
    """Wait (DRAIN_SECONDS at most) until every command has an answer and every answer has
    ended; the rooms' histories then."""
    owners = {user.room_id: user for user in run.users}
    deadline = time.monotonic() + DRAIN_SECONDS
    while True:
        histories = {
            room_id: await run.history(room_id, user.token) for room_id, user in owners.items()
        }
        messages = [m for room in histories.values() for m in room]
        answered = {m.get("reply_to") for m in messages if m.get("is_bot")}
        busy = [
            m
            for m in messages
            if m["status"] == "streaming"
            or (m.get("message_type") == "command" and m["message_id"] not in answered)
        ]
        if not busy or time.monotonic() > deadline:
            return histories
        await asyncio.sleep(3.0)


async def soak(args: argparse.Namespace) -> int:
    seconds = args.minutes * 60
    extra = (
        [] if args.no_faults else ["--faults", args.faults, "--fault-seed", str(args.fault_seed)]
    )
    # (every user registers from this address: bench/load.py's Stack lifts that limit)
    with tempfile.TemporaryDirectory() as workdir:
        stack = Stack(Path(workdir), args.concurrency, extra)
        try:
            await stack.ready()
            async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as http:
                run = Run(http, stack.urls, args)
                await run.setup()
                print(
                    f"Soak: {args.users} users in {args.rooms} rooms, {args.rate}/s each, "
                    f"{args.minutes:g} min, faults "
                    f"{'off' if args.no_faults else f'{args.faults} (seed {args.fault_seed})'}",
                    flush=True,
                )
                memory = await traffic(run, stack, seconds)
                histories = await drain(run)
                for user in run.users:  # what a final catch-up finds is not a gap
                    after = user.catch_up_from(time.time())
                    await run.catch_up(user, min(after, user.unfinished or after))
                run.stopping = True
                for task in list(run.tasks):
                    task.cancel()
                await asyncio.gather(*run.tasks, return_exceptions=True)
                for user in run.users:
                    if user.ws is not None:
                        await user.ws.close()
            findings = check(run, histories, memory)
        finally:
            stack.stop()
            log = stack.log_path.read_text(errors="replace")
            args.stack_log.write_text(log)
        faults = injected_faults(log)
    print(f"  the stack's log: {args.stack_log}")
    return report(run, findings, memory, faults, histories, args)


def report(
    run: Run,
    findings: Findings,
    memory: Memory,
    faults: dict[str, str],
    histories: dict[str, list[dict[str, Any]]],
    args: argparse.Namespace,
) -> int:
    failed = [kind for kind in FAILURES if findings.counts[kind]]
    for kind in failed:
        causes = {
            k.removeprefix(f"{kind} after "): n
            for k, n in findings.counts.items()
            if k.startswith(f"{kind} after ")
        }
        print(
            f"{kind}: {findings.counts[kind]}" + (f" (first attempt: {causes})" if causes else "")
        )
        for example in findings.examples[kind]:
            print(f"    e.g. {example}")
    for service, figures in faults.items():
        print(f"  faults injected: {service} {figures}")
    if run.error_frames:
        print(f"  error frames: {dict(run.error_frames)}")
    if run.rest_failures:
        print(f"  REST attempts failed: {dict(run.rest_failures)}")
    samples = {when: memory.by_kind(when) for when in ("start", "mid", "end")}
    for kind in sorted(set().union(*samples.values())):
        print(
            f"  RSS {kind}: "
            + " -> ".join(
                f"{samples[when].get(kind, (0, 0))[0]} process(es) "
                f"{_mib(samples[when].get(kind, (0, 0))[1])} MiB"
                for when in samples
            )
        )
    sends = list(run.sends.values())
    stored = sum(len(messages) for messages in histories.values())
    moto = [
        (a, b) for kind, a, b in memory.growth("start", "end").values() if kind == "moto server"
    ]
    moto_text = (
        f"moto {_mib(moto[0][0])}->{_mib(moto[0][1])} MiB "
        f"({(moto[0][1] - moto[0][0]) / max(1, stored) / 1024:.1f} KiB/message)"
        if moto
        else "moto ?"
    )
    others = [
        (a, b) for kind, a, b in memory.growth("mid", "end").values() if kind != "moto server"
    ]
    counts = findings.counts
    print(
        f"soak {args.minutes:g} min, {args.users} users/{args.rooms} rooms, faults "
        f"{'off' if args.no_faults else f'{args.faults} seed {args.fault_seed}'}: "
        f"sent {len(sends)}, acked {sum(s.outcome == 'acked' for s in sends)} "
        f"({sum(s.outcome == 'acked' and len(s.attempts) > 1 for s in sends)} after a retry), "
        f"failed {sum(s.outcome == 'failed' for s in sends)}, stored twice {counts['stored twice']}, "
        f"lost {counts['lost']}; live deliveries {counts['deliveries expected']}, missed live "
        f"{counts['missed live']}, duplicated {counts['duplicated']}, gaps {counts['gaps']}; "
        f"sessions {sum(len(u.sessions) for u in run.users)} "
        f"({sum(s.closed_by == 'dropped' for u in run.users for s in u.sessions)} dropped), "
        f"joins sent again {run.join_retries}, caught up {sum(u.caught_up for u in run.users)} "
        f"(catch-ups failed {run.catch_ups_failed}); commands {counts['commands']}, "
        f"answers complete {counts['answers complete']} error {counts['answers error']} "
        f"streaming {counts['answers stuck streaming']}, answered twice "
        f"{counts['commands answered twice']}, never {counts['commands never answered']}; "
        f"edits {len(run.edits)} (lost {counts['edits lost']}), reactions {len(run.reactions)} "
        f"(lost {counts['reactions lost']}); faults "
        + (", ".join(f"{s} {f.split(' ')[0]}" for s, f in faults.items()) or "none")
        + f"; RSS {moto_text}, the others from half time {_mib(sum(a for a, _ in others))}->"
        f"{_mib(sum(b for _, b in others))} MiB (not flat: {counts['memory not flat']}): "
        + ("PASS" if not failed else f"FAIL ({', '.join(failed)})")
    )
    return 1 if failed else 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=20.0)
    parser.add_argument("--users", type=int, default=50)
    parser.add_argument("--rooms", type=int, default=10)
    parser.add_argument("--rate", type=float, default=1.0, help="messages per second per user")
    parser.add_argument("--faults", default=DEFAULT_FAULTS, help="python -m local --faults")
    parser.add_argument("--fault-seed", type=int, default=1)
    parser.add_argument("--no-faults", action="store_true", help="every service answers")
    parser.add_argument(
        "--reconnect-every", type=float, default=180.0, help="seconds between reconnects (±50 %%)"
    )
    parser.add_argument("--ack-timeout", type=float, default=5.0, help="seconds before a retry")
    parser.add_argument("--rest-share", type=float, default=0.2, help="sends made over REST")
    parser.add_argument("--bot-share", type=float, default=0.02, help="sends that are commands")
    parser.add_argument("--edit-share", type=float, default=0.05, help="edits per send")
    parser.add_argument("--reaction-share", type=float, default=0.1, help="reactions per send")
    parser.add_argument(
        "--concurrency", type=int, help="workers per function (the stack's default)"
    )
    parser.add_argument(
        "--stack-log",
        type=Path,
        default=Path(tempfile.gettempdir()) / "chat-soak-stack.log",
        help="where the stack's log is kept (each fault is logged there)",
    )
    args = parser.parse_args()
    random.seed(args.fault_seed)
    limit = int(args.minutes * 60 + DRAIN_SECONDS + 600)
    signal.signal(signal.SIGALRM, lambda *_: sys.exit("bench/soak.py: over its time limit"))
    signal.alarm(limit)
    sys.exit(asyncio.run(soak(args)))


if __name__ == "__main__":
    main()
