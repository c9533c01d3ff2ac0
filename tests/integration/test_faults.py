"""AWS's faults met by the real handlers: DynamoDB throttles, 500s and answers lost after the
write was applied (a botocore `before-send` hook answering instead of moto, or after it), and
the management API's 429s and 5xx (tests.support.clients.Sockets). Each test shows that
nothing is lost and nothing doubled: a message is stored and pushed once, an answer ends
once, with its last frame."""

from __future__ import annotations

import json
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

import pytest
from botocore.awsrequest import AWSResponse
from botocore.retries.standard import ExponentialBackoff
from moto.core.botocore_stubber import MockRawResponse
from moto.core.models import botocore_stubber
from moto.dynamodb.responses import DynamoHandler

from chat import aws
from chat.dal import tables
from chat.logic.bot import budget
from chat.logic.bot.answer import TIMED_OUT_MESSAGE
from local import moto_dynamodb
from tests.integration import test_bot_worker as bot
from tests.integration.test_bot_worker import deliver, post, stored

keyed_room = bot.keyed_room
joined = bot.joined
_ERRORS = "com.amazonaws.dynamodb.v20120810#"


@dataclass
class Fault:
    operation: str
    kind: str  # throttle | error | lost | cancelled (a transaction throttled) | hang
    when: Callable[[dict[str, Any]], bool] = lambda body: True


@dataclass
class DynamoDBFaults:
    """Faults for the next calls of each operation, in order, on the wire (the handlers'
    botocore parses and retries them as DynamoDB's): `add("TransactWriteItems", "lost")`."""

    planned: list[Fault] = field(default_factory=list)
    calls: Counter[str] = field(default_factory=Counter)
    injected: list[str] = field(default_factory=list)
    hang_seconds: float = 4.0  # a `hang`: the call waits this long, then moto answers it
    after_hang: Callable[[], None] = lambda: None

    def add(
        self, operation: str, *kinds: str, when: Callable[[dict[str, Any]], bool] | None = None
    ):
        for kind in kinds:
            self.planned.append(Fault(operation, kind, when or (lambda body: True)))

    def __call__(self, request: Any, event_name: str, **kwargs: Any) -> AWSResponse | None:
        operation = event_name.rsplit(".", 1)[-1]
        self.calls[operation] += 1
        body = json.loads(request.body or b"{}")
        fault = next((f for f in self.planned if f.operation == operation and f.when(body)), None)
        if fault is None:
            return None  # moto answers
        self.planned.remove(fault)
        self.injected.append(f"{operation} {fault.kind}")
        if fault.kind == "hang":
            time.sleep(self.hang_seconds)
            self.after_hang()
            return None
        if fault.kind == "lost":  # applied by moto, its answer lost
            botocore_stubber(event_name, request)
            return _error(request, 500, "InternalServerError")
        if fault.kind == "error":
            return _error(request, 500, "InternalServerError")
        if fault.kind == "cancelled":
            reasons = [{"Code": "None"} for _ in body["TransactItems"]]
            reasons[0] = {"Code": "ThrottlingError", "Message": "Throughput exceeds the capacity"}
            return _error(request, 400, "TransactionCanceledException", CancellationReasons=reasons)
        return _error(request, 400, "ProvisionedThroughputExceededException")


def _error(request: Any, status: int, code: str, **extra: Any) -> AWSResponse:
    body = json.dumps({"__type": _ERRORS + code, "message": code, **extra}).encode()
    headers = {"Content-Type": "application/x-amz-json-1.0"}
    return AWSResponse(request.url, status, headers, MockRawResponse(body))  # type: ignore[arg-type]


@pytest.fixture
def faults(stack, monkeypatch) -> DynamoDBFaults:
    """DynamoDB faults on the functions' client; retries without their waits (botocore's and
    ours), transactions idempotent by ClientRequestToken as DynamoDB's are."""
    monkeypatch.setattr(ExponentialBackoff, "delay_amount", lambda self, context: 0.0)
    monkeypatch.setattr(tables, "RETRY_BASE", 0.001)
    monkeypatch.setattr(aws.ManagementApi, "RETRY_BASE", 0.001)
    monkeypatch.setattr(
        DynamoHandler, "transact_write_items", moto_dynamodb.transact_write_items_request
    )
    monkeypatch.setattr(moto_dynamodb, "_tokens", {})
    plan = DynamoDBFaults()
    events = aws.dynamodb_resource().meta.client.meta.events
    events.register_first("before-send.dynamodb", plan)
    yield plan
    events.unregister("before-send.dynamodb", plan)


def _joined(connect, token, room_id):
    client = connect(token)
    client.send({"type": "join", "room_id": room_id})
    return client


def _history(rest, room, token) -> list[dict[str, Any]]:
    return rest.get(f"/rooms/{room['room_id']}/messages", token=token).body["messages"]


def _send(client, room, content, client_id) -> None:
    client.send(
        {"type": "message", "room_id": room["room_id"], "content": content, "client_id": client_id}
    )


# ------------------------------------------------------------------------------ messages
def test_a_throttled_message_write_is_retried_until_it_is_stored_once(
    faults, rest, room_with, connect
):
    room, tokens = room_with("alice", "bob")
    alice = _joined(connect, tokens["alice"], room["room_id"])
    bob = _joined(connect, tokens["bob"], room["room_id"])
    # Given the message's transaction is cancelled by throttles (botocore never retries
    # those), then throttled and failing past botocore's own retries
    faults.add("TransactWriteItems", "cancelled", "cancelled", *["throttle"] * 3, "error")
    faults.calls.clear()
    _send(alice, room, "through the storm", "c-1")
    # Then it was stored once and everyone got it once; the sender got no error
    assert faults.calls["TransactWriteItems"] == 7
    assert [m["content"] for m in _history(rest, room, tokens["bob"])] == ["through the storm"]
    assert len(bob.frames("message")) == 1 and len(alice.frames("message")) == 1
    assert alice.frames("error") == []


@pytest.mark.parametrize(
    ("tokens_honoured", "faults_after"),
    [(True, 0), (True, 3), (False, 0)],
    ids=["botocore-retries", "past-botocore", "token-ignored"],
)
def test_a_store_whose_answer_was_lost_is_one_message_pushed_once(
    faults, rest, room_with, connect, monkeypatch, tokens_honoured, faults_after
):
    if not tokens_honoured:  # a retry applies the transaction again: its claim is its own
        monkeypatch.undo()
        monkeypatch.setattr(ExponentialBackoff, "delay_amount", lambda self, context: 0.0)
        monkeypatch.setattr(tables, "RETRY_BASE", 0.001)
    room, tokens = room_with("alice", "bob")
    bob = _joined(connect, tokens["bob"], room["room_id"])
    # Given the store is applied but its answer lost (and, past botocore, every retry of
    # botocore's fails too, so that our own retry with the same token finds it done)
    faults.add("TransactWriteItems", "lost", *["error"] * faults_after)
    result = rest.post(
        f"/rooms/{room['room_id']}/messages",
        {"content": "once", "client_id": "c-1"},
        token=tokens["alice"],
    )
    assert result.status == 201, result.body
    assert [m["message_id"] for m in _history(rest, room, tokens["bob"])] == [
        result.body["message_id"]
    ]
    assert [f["message_id"] for f in bob.frames("message")] == [result.body["message_id"]]


def test_a_send_that_failed_after_storing_is_answered_on_retry_with_what_was_stored(
    faults, rest, room_with, connect
):
    room, tokens = room_with("alice")
    alice = _joined(connect, tokens["alice"], room["room_id"])
    # Given a store applied, then every attempt failing: the sender is told it failed
    faults.add("TransactWriteItems", "lost", *["error"] * 30)
    _send(alice, room, "did it go?", "c-1")
    assert [f["code"] for f in alice.frames("error")] == ["internal"]
    faults.planned.clear()
    # When the app sends it again with its client_id
    _send(alice, room, "did it go?", "c-1")
    # Then it is told it is stored, with the message stored the first time: never twice
    (stored_message,) = _history(rest, room, tokens["alice"])
    assert [f["message_id"] for f in alice.frames("message")] == [stored_message["message_id"]]


def test_a_failed_subscriber_query_is_made_again_and_the_room_gets_the_message(
    faults, rest, room_with, connect
):
    room, tokens = room_with("alice", "bob")
    alice = _joined(connect, tokens["alice"], room["room_id"])
    bob = _joined(connect, tokens["bob"], room["room_id"])
    faults.add("Query", *["error"] * 4)  # every attempt of botocore's for the prefetch
    _send(alice, room, "hello", "c-1")
    assert faults.injected == ["Query error"] * 4
    assert [f["content"] for f in bob.frames("message")] == ["hello"]
    assert alice.frames("error") == []


# ------------------------------------------------------------------------------ pushes
def test_a_throttled_push_is_retried_and_delivered_once(faults, rest, room_with, connect, sockets):
    room, tokens = room_with("alice", "bob")
    alice = _joined(connect, tokens["alice"], room["room_id"])
    bob = _joined(connect, tokens["bob"], room["room_id"])
    sockets.attempts.clear()
    sockets.faults[bob.connection_id] = [429, 429, 503]
    _send(alice, room, "hello", "c-1")
    assert sockets.attempts[bob.connection_id] == 4
    assert [f["content"] for f in bob.frames("message")] == ["hello"]


def test_a_push_throttled_past_its_retries_is_dropped_but_the_socket_is_kept(
    faults, rest, room_with, connect, sockets
):
    room, tokens = room_with("alice", "bob")
    alice = _joined(connect, tokens["alice"], room["room_id"])
    bob = _joined(connect, tokens["bob"], room["room_id"])
    sockets.faults[bob.connection_id] = [429] * 4
    _send(alice, room, "lost to the throttle", "c-1")
    assert bob.frames("message") == []
    # bob is still subscribed: only a 410 forgets a connection
    _send(alice, room, "next", "c-2")
    assert [f["content"] for f in bob.frames("message")] == ["next"]
    assert sockets.closed == []


def test_a_gone_connection_is_not_retried_and_is_forgotten(
    faults, rest, room_with, connect, sockets
):
    room, tokens = room_with("alice", "bob")
    alice = _joined(connect, tokens["alice"], room["room_id"])
    bob = _joined(connect, tokens["bob"], room["room_id"])
    sockets.attempts.clear()
    sockets.gone.add(bob.connection_id)
    _send(alice, room, "hello", "c-1")
    assert sockets.attempts[bob.connection_id] == 1
    sockets.gone.clear()
    _send(alice, room, "again", "c-2")
    assert sockets.attempts[bob.connection_id] == 1  # no longer a subscriber


# ------------------------------------------------------------------------------ answers
def _ends_the_answer(body: dict[str, Any]) -> bool:
    """The write that ends a complete answer: one transaction with its usage's charge."""
    updates = [item.get("Update", {}) for item in body.get("TransactItems", [])]
    return any("SET #status = :end" in u.get("UpdateExpression", "") for u in updates)


@pytest.mark.parametrize(
    "kinds", [["lost"], ["lost", *["error"] * 3]], ids=["lost", "past-botocore"]
)
def test_an_answer_whose_end_was_lost_ends_once_with_its_last_frame(
    faults, rest, keyed_room, joined, gemini, stack, kinds
):
    room, tokens = keyed_room("alice")
    alice = joined(tokens["alice"], room["room_id"])
    command = post(rest, room, tokens["alice"], "@bot hello")
    faults.add("TransactWriteItems", *kinds, when=_ends_the_answer)
    assert deliver(stack) == []
    assert faults.injected == [f"TransactWriteItems {kind}" for kind in kinds]
    (final,) = [f for f in alice.frames("bot_stream") if f["is_complete"]]
    assert alice.frames("bot_error") == []
    reply = stored(room["room_id"], final["message_id"])
    assert reply["status"] == "complete" and reply["content"] == final["full_response"]
    assert reply["reply_to"] == command["message_id"]


def test_an_answer_stuck_in_a_hanging_call_is_ended_before_the_invocation_ends(
    faults, rest, keyed_room, joined, gemini, stack, monkeypatch
):
    # Given a worker invocation of 6 s, whose answer must end 1.5 s before that, and its
    # last chance 0.5 s before
    rules = replace(budget.BUDGET, margin=1.5, min_answer=0.5, last_chance=0.5)
    monkeypatch.setattr(budget, "BUDGET", rules)
    room, tokens = keyed_room("alice")
    alice = joined(tokens["alice"], room["room_id"])
    post(rest, room, tokens["alice"], "@bot tell me slowly [fake:tokens=40,seconds=4]")
    # and the answer's first checkpoint hanging for 8 s (DynamoDB not answering)
    faults.hang_seconds = 8.0
    ended_by_then: list[int] = []
    faults.after_hang = lambda: ended_by_then.append(len(alice.frames("bot_error")))
    faults.add("UpdateItem", "hang", when=lambda body: "stream_seq" in body["UpdateExpression"])
    started = time.monotonic()
    assert deliver(stack, timeout_ms=6000) == []
    # Then the answer was ended while the call still hung, inside the invocation's time
    assert ended_by_then == [1]
    (error,) = alice.frames("bot_error")
    assert error["code"] == "timeout" and error["message"] == TIMED_OUT_MESSAGE
    reply = stored(room["room_id"], error["message_id"])
    assert reply["status"] == "error"
    # and nothing of the answer followed its end
    frames = [f for f in alice.frames() if f["type"] in ("bot_stream", "bot_error")]
    assert frames[-1] == error
    assert any(f["type"] == "bot_stream" for f in frames)  # it was streaming
    assert time.monotonic() - started < 15


def test_a_command_held_in_progress_comes_back_once_the_hold_can_have_expired(
    faults, rest, keyed_room, gemini, stack, monkeypatch
):
    """Powertools' in-progress record of a command can outlive its run: a run that died, or
    this run's own write whose answer was lost (its retry finds the record and reports it
    in progress). The command cannot run before that record's in-progress expiry, at most
    an invocation's time later: it must not come back after the usual 2 s, 4 s … and spend
    its receives on the dead-letter queue's way."""
    from aws_lambda_powertools.utilities.idempotency.exceptions import (
        IdempotencyAlreadyInProgressError,
    )

    from chat.transport import sqs as transport

    def held(**_: Any) -> Any:
        raise IdempotencyAlreadyInProgressError("Execution already in progress")

    monkeypatch.setattr(transport, "_answer_once", lambda table: held)
    visibility: list[int] = []
    sqs_events = aws.sqs().meta.events
    record = lambda params, **_: visibility.append(params["VisibilityTimeout"])  # noqa: E731
    sqs_events.register("provide-client-params.sqs.ChangeMessageVisibility", record)
    try:
        room, tokens = keyed_room("alice")
        post(rest, room, tokens["alice"], "@bot hello")
        assert len(deliver(stack, timeout_ms=60_000)) == 1
    finally:
        sqs_events.unregister("provide-client-params.sqs.ChangeMessageVisibility", record)
    (seconds,) = visibility
    assert seconds >= 60  # the invocation's time: the longest a hold can have left


def test_a_socket_joining_while_a_slow_store_is_retried_still_gets_the_message(
    faults, rest, room_with, connect
):
    """The subscribers are read while the message is stored; a socket that joins meanwhile is
    not among them, and its catch-up may come before the store ends. A store that was slow
    (retried) reads them again after it."""
    room, tokens = room_with("alice", "bob")
    alice = _joined(connect, tokens["alice"], room["room_id"])
    bob = connect(tokens["bob"])
    # Given the message's store takes long (its retries) and bob joins meanwhile
    faults.hang_seconds = 0.5
    faults.after_hang = lambda: bob.send({"type": "join", "room_id": room["room_id"]})
    faults.add("TransactWriteItems", "hang", when=lambda body: len(body["TransactItems"]) == 3)
    _send(alice, room, "while you joined", "c-1")
    # Then bob, joined before it was stored, got it pushed
    assert faults.injected == ["TransactWriteItems hang"]
    assert bob.frames("joined")
    assert [f["content"] for f in bob.frames("message")] == ["while you joined"]
