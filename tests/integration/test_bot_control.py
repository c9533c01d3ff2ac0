"""Bot control (docs/API.md, Bot control) through the real handlers on moto, with the worker
streaming the fake Gemini's answers through the real google-genai SDK: stopping an answer
(streaming, queued, ended, racing its end, in a retry's backoff, after a crash),
regenerating one, and the frames' `seq`/`offset` and the checkpoints a reconnecting client
resumes from.

The worker runs on a thread where a test needs to act while an answer streams.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import replace
from typing import Any

import boto3
import pytest

from chat.config import settings
from chat.dal import messages as message_table
from chat.logic.accounts.tokens import verify_token
from chat.logic.bot import budget
from chat.logic.bot import control as bot_control
from local.fake_gemini import Reply
from terminal.answers import STORED_PREFIX_MAX_AGE, apply_frame
from tests.integration.test_bot_worker import (
    API_KEY,
    bot_replies,
    deliver,
    invoke,
    post,
    receive_all,
    stored,
)
from tests.support.clients import RestClient, WebSocketClient

SLOW = "[fake:tokens=400,words=2,seconds=8]"  # 200 events over 8 s


# ------------------------------------------------------------------------------ fixtures
@pytest.fixture
def room(rest: RestClient, register) -> tuple[dict[str, Any], dict[str, str]]:
    """A room with a key: alice owns it, bob is a member, mallory is not."""
    tokens = {name: register(name) for name in ("alice", "bob", "mallory")}
    created = rest.post(
        "/rooms", {"name": "general", "gemini_api_key": API_KEY}, token=tokens["alice"]
    )
    assert created.status == 201, created.body
    joined = rest.post("/rooms/join", {"code": created.body["code"]}, token=tokens["bob"])
    assert joined.status == 200
    return created.body, tokens


@pytest.fixture
def joined(connect) -> Callable[[str, str], WebSocketClient]:
    def _joined(token: str, room_id: str) -> WebSocketClient:
        client = connect(token)
        assert client.send({"type": "join", "room_id": room_id}) == 200
        return client

    return _joined


class Worker:
    """The worker delivering what is queued, on a thread."""

    def __init__(self, stack: dict[str, Any]):
        self.failed: list[str] | None = None
        self.error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, args=(stack,), daemon=True)
        self._thread.start()

    def _run(self, stack: dict[str, Any]) -> None:
        try:
            self.failed = deliver(stack)
        except BaseException as exc:  # reported by join()
            self.error = exc

    def join(self, timeout: float = 30) -> list[str]:
        self._thread.join(timeout)
        assert not self._thread.is_alive(), "the worker did not finish"
        if self.error is not None:
            raise self.error
        assert self.failed is not None
        return self.failed


@pytest.fixture
def worker(stack: dict[str, Any]) -> Iterator[Callable[[], Worker]]:
    started: list[Worker] = []

    def _start() -> Worker:
        started.append(Worker(stack))
        return started[-1]

    yield _start
    for running in started:
        running.join(60)


# ------------------------------------------------------------------------------ helpers
def wait_until(condition: Callable[[], Any], timeout: float = 15, what: str = "it") -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.02)
    raise AssertionError(f"{what} did not happen within {timeout} s")


def stream_frames(client: WebSocketClient, reply_id: str | None = None) -> list[dict[str, Any]]:
    return [
        frame
        for frame in client.frames("bot_stream")
        if reply_id is None or frame["message_id"] == reply_id
    ]


def finals(client: WebSocketClient, reply_id: str | None = None) -> list[dict[str, Any]]:
    return [f for f in stream_frames(client, reply_id) if f["is_complete"]]


def chunks_of(client: WebSocketClient, reply_id: str) -> list[str]:
    return [f["chunk"] for f in stream_frames(client, reply_id) if not f["is_complete"]]


def first_chunk(client: WebSocketClient) -> dict[str, Any]:
    return wait_until(lambda: stream_frames(client), what="the first chunk")[0]


def check_frames(frames: list[dict[str, Any]]) -> str:
    """seq counts 0, 1, 2 …; each offset is the code points before the chunk; exactly one
    final frame, the last, whose full_response is the chunks joined. Returns the answer."""
    assert [f["seq"] for f in frames] == list(range(len(frames)))
    text = ""
    for frame in frames:
        assert frame["offset"] == len(text)
        text += frame["chunk"]
    (final,) = [f for f in frames if f["is_complete"]]
    assert final is frames[-1] and final["chunk"] == ""
    assert final["full_response"] == text
    return text


def stop(rest: RestClient, room: dict[str, Any], token: str, message_id: str):
    return rest.post(f"/rooms/{room['room_id']}/messages/{message_id}/stop", token=token)


def regenerate(rest: RestClient, room: dict[str, Any], token: str, message_id: str):
    return rest.post(f"/rooms/{room['room_id']}/messages/{message_id}/regenerate", token=token)


def prefix_of(rest: RestClient, room: dict[str, Any], token: str, reply_id: str) -> str:
    history = rest.get(f"/rooms/{room['room_id']}/messages", token=token).body["messages"]
    (content,) = [m["content"] for m in history if m["message_id"] == reply_id]
    return content


def rebuild(prefix: str, frames: list[dict[str, Any]]) -> str | None:
    """The contract's rule (terminal.answers.apply_frame); None on a gap."""
    text: str | None = prefix
    for frame in frames:
        text = apply_frame(text, frame)
        if text is None:
            return None
    return text


def clear_idempotency() -> None:
    table = boto3.resource("dynamodb").Table(settings().idempotency_table)
    for item in table.scan()["Items"]:
        table.delete_item(Key={"id": item["id"]})


# ------------------------------------------------------------------------------ stopping
def test_a_streaming_answer_stops_and_keeps_what_was_streamed(
    rest, room, joined, gemini, stack, worker
):
    room_, tokens = room
    alice = joined(tokens["alice"], room_["room_id"])
    bob = joined(tokens["bob"], room_["room_id"])
    post(rest, room_, tokens["alice"], f"@bot a long story {SLOW}")
    running = worker()
    reply_id = first_chunk(bob)["message_id"]
    wait_until(lambda: len(stream_frames(bob)) >= 3, what="three chunks")

    # When bob (any member) stops it by the bot message's id
    result = stop(rest, room_, tokens["bob"], reply_id)

    assert result.status == 202, result.body
    assert running.join() == []
    # Then everyone got one final frame, stopped, with what was streamed
    for client in (alice, bob):
        text = check_frames(stream_frames(client, reply_id))
        (final,) = finals(client, reply_id)
        assert final["stopped"] is True
        assert text and text == "".join(chunks_of(client, reply_id))
        assert [f["is_typing"] for f in client.frames("typing")] == [True, False]
    item = stored(room_["room_id"], reply_id)
    assert item["status"] == "stopped" and item["content"] == text
    (listed,) = bot_replies(rest, room_, tokens["alice"])
    assert listed["status"] == "stopped" and listed["content"] == text
    # And the model's stream was closed mid-answer: the rest was never read
    (request,) = gemini.requests
    wait_until(lambda: request.disconnected, what="the fake seeing the disconnect")
    assert request.events_sent < 100
    assert alice.frames("bot_error") == []


def test_a_stop_while_the_model_pauses_closes_its_stream_at_once(
    rest, room, joined, gemini, stack, worker, monkeypatch
):
    monkeypatch.setattr(budget, "BUDGET", replace(budget.BUDGET, stall_timeout=25.0))
    room_, tokens = room
    alice = joined(tokens["alice"], room_["room_id"])
    gemini.script(Reply(text="one two three", words_per_event=1, event_delay=30))
    post(rest, room_, tokens["alice"], "@bot slowly")
    running = worker()
    reply_id = first_chunk(alice)["message_id"]

    assert stop(rest, room_, tokens["alice"], reply_id).status == 202
    assert running.join() == []

    (final,) = finals(alice, reply_id)
    assert final["stopped"] is True and final["full_response"] == "one "
    # The connection was shut down by the stop, not left until the next word (30 s) or the
    # stall timeout (25 s)
    (request,) = gemini.requests
    wait_until(lambda: request.disconnected, timeout=10, what="the fake seeing the disconnect")
    assert request.events_sent == 1


def test_a_stop_frame_by_the_command_id_stops_its_answer(rest, room, joined, gemini, stack, worker):
    room_, tokens = room
    alice = joined(tokens["alice"], room_["room_id"])
    command = post(rest, room_, tokens["alice"], f"@bot go {SLOW}")
    running = worker()
    reply_id = first_chunk(alice)["message_id"]

    assert (
        alice.send(
            {"type": "bot_stop", "room_id": room_["room_id"], "message_id": command["message_id"]}
        )
        == 200
    )

    assert running.join() == []
    assert alice.frames("error") == []
    (final,) = finals(alice, reply_id)
    assert final["stopped"] is True and final["reply_to"] == command["message_id"]
    assert stored(room_["room_id"], reply_id)["status"] == "stopped"


def test_a_queued_command_is_not_answered_and_the_next_one_starts(
    rest, room, joined, gemini, stack
):
    room_, tokens = room
    alice = joined(tokens["alice"], room_["room_id"])
    first = post(rest, room_, tokens["alice"], "@bot first [fake:text=one]")
    second = post(rest, room_, tokens["bob"], "@bot second [fake:text=two]")

    # When the first is stopped while it waits in the queue
    assert stop(rest, room_, tokens["bob"], first["message_id"]).status == 202

    # Then its reply is stored empty and stopped, announced with one final frame
    (row,) = [f for f in alice.frames("message") if f["is_bot"]]
    assert (
        row["status"] == "stopped"
        and row["content"] == ""
        and row["reply_to"] == first["message_id"]
    )
    (final,) = finals(alice, row["message_id"])
    assert final == {
        "type": "bot_stream",
        "room_id": room_["room_id"],
        "message_id": row["message_id"],
        "reply_to": first["message_id"],
        "username": "bot",
        "chunk": "",
        "is_complete": True,
        "seq": 0,
        "offset": 0,
        "full_response": "",
        "stopped": True,
        "tool_calls": [],
        "sources": [],
    }
    # And when the worker runs, the first is skipped and the second answered
    assert deliver(stack) == []
    assert [r.turns[-1][1].splitlines()[-1] for r in gemini.requests] == [
        "bob: @bot second [fake:text=two]"
    ]
    replies = bot_replies(rest, room_, tokens["alice"])
    assert [(r["reply_to"], r["status"], r["content"]) for r in replies] == [
        (first["message_id"], "stopped", ""),
        (second["message_id"], "complete", "two"),
    ]
    assert len(finals(alice, row["message_id"])) == 1
    assert receive_all(stack) == []
    # And stopping it again is a conflict
    assert stop(rest, room_, tokens["alice"], first["message_id"]).status == 409


def test_stopping_an_ended_answer_is_a_conflict(rest, room, joined, gemini, stack):
    room_, tokens = room
    alice = joined(tokens["alice"], room_["room_id"])
    command = post(rest, room_, tokens["alice"], "@bot hi [fake:text=done]")
    assert deliver(stack) == []
    (reply,) = bot_replies(rest, room_, tokens["alice"])

    for message_id in (reply["message_id"], command["message_id"]):
        result = stop(rest, room_, tokens["alice"], message_id)
        assert result.status == 409 and result.error_code == "conflict"
    alice.send({"type": "bot_stop", "room_id": room_["room_id"], "message_id": reply["message_id"]})

    (error,) = alice.frames("error")
    assert error["code"] == "conflict" and error["request_type"] == "bot_stop"
    assert stored(room_["room_id"], reply["message_id"])["status"] == "complete"
    assert len(finals(alice)) == 1


def test_stop_and_regenerate_refuse_bad_targets(rest, room, joined, gemini, stack):
    room_, tokens = room
    text = post(rest, room_, tokens["alice"], "just chatting")
    command = post(rest, room_, tokens["alice"], "@bot hi")
    assert deliver(stack) == []
    (reply,) = bot_replies(rest, room_, tokens["alice"])
    unknown = "01HZZZZZZZZZZZZZZZZZZZZZZZ"

    # A non-member gets 404 for every id, as if the room did not exist
    for message_id in (reply["message_id"], command["message_id"], unknown):
        assert stop(rest, room_, tokens["mallory"], message_id).status == 404
        assert regenerate(rest, room_, tokens["mallory"], message_id).status == 404
    # Unknown ids (and ids that cannot exist) are 404
    for message_id in (unknown, "x" * 300):
        assert stop(rest, room_, tokens["alice"], message_id).error_code == "not_found"
        assert regenerate(rest, room_, tokens["alice"], message_id).error_code == "not_found"
    # Only bot answers are regenerated; a person's message cannot be stopped
    for message_id in (command["message_id"], text["message_id"]):
        result = regenerate(rest, room_, tokens["alice"], message_id)
        assert result.status == 422 and result.error_code == "validation_error"
        assert result.body["error"]["details"][0]["field"] == "message_id"
    assert stop(rest, room_, tokens["alice"], text["message_id"]).status == 422
    # Over the WebSocket: error frames, the connection stays open
    mallory = joined(tokens["mallory"], room_["room_id"])
    mallory.send(
        {"type": "bot_stop", "room_id": room_["room_id"], "message_id": reply["message_id"]}
    )
    mallory.send({"type": "bot_stop", "room_id": room_["room_id"]})
    assert [f["code"] for f in mallory.frames("error")] == [
        "not_found",
        "not_found",
        "validation_error",
    ]
    assert receive_all(stack) == []


# ------------------------------------------------------------------------------ races, faults
def test_a_stop_racing_the_natural_end_gives_one_final_frame(
    rest, room, joined, gemini, stack, monkeypatch
):
    room_, tokens = room
    alice = joined(tokens["alice"], room_["room_id"])
    principal = verify_token(tokens["bob"])
    real_end = message_table.end_reply
    stops: list[str] = []

    def stop_just_before_the_end(room_id, message_id, status, content, *result):
        if status == "complete" and not stops:  # the stop lands between the last chunk and the end
            bot_control.stop_answer(principal, room_id, message_id)
            stops.append(message_id)
        return real_end(room_id, message_id, status, content, *result)

    monkeypatch.setattr(message_table, "end_reply", stop_just_before_the_end)
    post(rest, room_, tokens["alice"], "@bot hi [fake:text=all of it was said]")

    assert deliver(stack) == []

    (reply_id,) = stops
    (final,) = finals(alice, reply_id)
    assert final["stopped"] is True and final["full_response"] == "all of it was said"
    item = stored(room_["room_id"], reply_id)
    assert (item["status"], item["content"]) == ("stopped", "all of it was said")
    assert alice.frames("bot_error") == []


def test_a_stop_after_the_natural_end_changes_nothing(
    rest, room, joined, gemini, stack, monkeypatch
):
    room_, tokens = room
    alice = joined(tokens["alice"], room_["room_id"])
    principal = verify_token(tokens["bob"])
    real_end = message_table.end_reply
    refused: list[str] = []

    def stop_just_after_the_end(room_id, message_id, status, content, *result):
        ended = real_end(room_id, message_id, status, content, *result)
        try:
            bot_control.stop_answer(principal, room_id, message_id)
        except Exception as exc:
            refused.append(type(exc).__name__)
        return ended

    monkeypatch.setattr(message_table, "end_reply", stop_just_after_the_end)
    post(rest, room_, tokens["alice"], "@bot hi [fake:text=complete answer]")

    assert deliver(stack) == []

    assert refused == ["Conflict"]
    (final,) = finals(alice)
    assert final["stopped"] is False and final["full_response"] == "complete answer"
    assert stored(room_["room_id"], final["message_id"])["status"] == "complete"


def test_a_stop_during_the_retry_backoff_ends_the_answer_without_retrying(
    rest, room, joined, gemini, stack, worker, monkeypatch
):
    monkeypatch.setattr(budget, "BUDGET", replace(budget.BUDGET, backoff=8.0, stall_timeout=5.0))
    room_, tokens = room
    alice = joined(tokens["alice"], room_["room_id"])
    gemini.script(Reply(status=503), Reply(text="never asked for"))
    post(rest, room_, tokens["alice"], "@bot hi")
    running = worker()
    wait_until(lambda: gemini.requests, what="the first (failing) model call")
    row = wait_until(lambda: [f for f in alice.frames("message") if f["is_bot"]])[0]

    assert stop(rest, room_, tokens["alice"], row["message_id"]).status == 202
    assert running.join() == []

    assert len(gemini.requests) == 1  # the backoff (~8 s) was cut short: no second attempt
    (final,) = finals(alice, row["message_id"])
    assert final["stopped"] is True and final["full_response"] == ""
    item = stored(room_["room_id"], row["message_id"])
    assert (item["status"], item["content"]) == ("stopped", "")
    assert alice.frames("bot_error") == []


def test_a_worker_crash_after_a_stop_request_does_not_resurrect_the_answer(
    rest, room, joined, gemini, stack
):
    # Given an answer whose run died while streaming, stopped afterwards
    room_, tokens = room
    alice = joined(tokens["alice"], room_["room_id"])
    command = post(rest, room_, tokens["alice"], "@bot hello")
    records = receive_all(stack)
    assert invoke(stack, records) == []
    (reply,) = bot_replies(rest, room_, tokens["alice"])
    boto3.resource("dynamodb").Table(settings().messages_table).update_item(
        Key={"room_id": room_["room_id"], "message_id": reply["message_id"]},
        UpdateExpression="SET #s = :s, content = :c, stream_seq = :q",
        ExpressionAttributeNames={"#s": "status"},
        ExpressionAttributeValues={":s": "streaming", ":c": "half an ans", ":q": 4},
    )
    clear_idempotency()
    assert stop(rest, room_, tokens["bob"], command["message_id"]).status == 202
    alice.sockets.clear()

    # When SQS delivers the command again
    assert invoke(stack, records) == []

    # Then it is ended as stopped with what was stored, not answered again
    assert len(gemini.requests) == 1
    item = stored(room_["room_id"], reply["message_id"])
    assert (item["status"], item["content"]) == ("stopped", "half an ans")
    (final,) = finals(alice)
    assert (final["stopped"], final["full_response"], final["seq"], final["offset"]) == (
        True,
        "half an ans",
        4,
        len("half an ans"),
    )
    assert alice.frames("bot_error") == []
    # And once more: nothing
    clear_idempotency()
    assert invoke(stack, records) == []
    assert len(finals(alice)) == 1 and len(gemini.requests) == 1
    assert len(bot_replies(rest, room_, tokens["alice"])) == 1


# ------------------------------------------------------------------------------ regenerating
def test_regenerate_answers_the_same_command_again_and_keeps_the_first(
    rest, room, joined, gemini, stack
):
    room_, tokens = room
    alice = joined(tokens["alice"], room_["room_id"])
    gemini.script(Reply(text="first take"), Reply(text="second take"), Reply(text="third take"))
    command = post(rest, room_, tokens["alice"], "@bot tell me something")
    assert deliver(stack) == []
    (first,) = bot_replies(rest, room_, tokens["alice"])

    # When bob regenerates it
    result = regenerate(rest, room_, tokens["bob"], first["message_id"])

    assert result.status == 202 and result.body == {"command_id": command["message_id"]}
    records = receive_all(stack)
    assert len(records) == 1
    assert records[0]["Attributes"]["MessageGroupId"] == room_["room_id"]
    assert invoke(stack, records) == []
    # Then a new answer replies to the same command, and the first stays
    replies = bot_replies(rest, room_, tokens["alice"])
    assert [(r["reply_to"], r["content"], r["status"]) for r in replies] == [
        (command["message_id"], "first take", "complete"),
        (command["message_id"], "second take", "complete"),
    ]
    assert gemini.requests[0].turns == gemini.requests[1].turns  # the same question
    assert check_frames(stream_frames(alice, replies[1]["message_id"])) == "second take"

    # When SQS delivers the regeneration again (idempotency records kept, then expired)
    frames_before = len(alice.frames())
    assert invoke(stack, records) == []
    clear_idempotency()
    assert invoke(stack, records) == []
    # Then nothing more is asked, pushed or stored
    assert len(gemini.requests) == 2 and len(alice.frames()) == frames_before
    assert len(bot_replies(rest, room_, tokens["alice"])) == 2

    # But a deliberate second regeneration (of either answer) is answered
    assert regenerate(rest, room_, tokens["alice"], first["message_id"]).status == 202
    assert deliver(stack) == []
    assert [r["content"] for r in bot_replies(rest, room_, tokens["alice"])] == [
        "first take",
        "second take",
        "third take",
    ]


def test_regenerate_refuses_a_streaming_answer_and_counts_against_the_bot_limits(
    rest, room, joined, gemini, stack, worker, monkeypatch
):
    room_, tokens = room
    alice = joined(tokens["alice"], room_["room_id"])
    post(rest, room_, tokens["alice"], f"@bot long {SLOW}")
    running = worker()
    reply_id = first_chunk(alice)["message_id"]

    result = regenerate(rest, room_, tokens["alice"], reply_id)
    assert result.status == 409 and result.error_code == "conflict"

    assert stop(rest, room_, tokens["alice"], reply_id).status == 202
    assert running.join() == []
    # A stopped answer can be regenerated, within the bot's limits (1 per minute here)
    monkeypatch.setenv("BOT_USER_COMMANDS_PER_MINUTE", "2")
    settings.cache_clear()
    assert regenerate(rest, room_, tokens["alice"], reply_id).status == 202
    limited = regenerate(rest, room_, tokens["alice"], reply_id)
    assert limited.status == 429 and limited.error_code == "rate_limited"
    assert "retry-after" in limited.headers
    assert len(receive_all(stack)) == 1


def test_an_answer_whose_command_was_deleted_cannot_be_regenerated(
    rest, room, gemini, stack, monkeypatch
):
    room_, tokens = room
    command = post(rest, room_, tokens["alice"], "@bot hi")
    assert deliver(stack) == []
    (answer,) = bot_replies(rest, room_, tokens["alice"])
    # The command used the only bot command of the minute: a 409 must come before the limits
    monkeypatch.setenv("BOT_USER_COMMANDS_PER_MINUTE", "1")
    settings.cache_clear()
    path = f"/rooms/{room_['room_id']}/messages/{command['message_id']}"
    assert rest.delete(path, token=tokens["alice"]).status == 204

    result = regenerate(rest, room_, tokens["alice"], answer["message_id"])

    assert result.status == 409 and result.error_code == "conflict", result.body
    assert receive_all(stack) == []


def test_a_command_deleted_while_its_regeneration_is_asked_is_not_queued(
    rest, room, gemini, stack, monkeypatch
):
    from chat.dal import message_changes

    room_, tokens = room
    command = post(rest, room_, tokens["alice"], "@bot hi")
    assert deliver(stack) == []
    (answer,) = bot_replies(rest, room_, tokens["alice"])
    check = bot_control.check_bot_limits

    def deleted_meanwhile(principal, room_id):
        check(principal, room_id)
        message_changes.tombstone(room_id, command["message_id"])

    monkeypatch.setattr(bot_control, "check_bot_limits", deleted_meanwhile)
    result = regenerate(rest, room_, tokens["bob"], answer["message_id"])
    assert result.status == 409 and result.error_code == "conflict", result.body
    assert receive_all(stack) == []


def test_a_queued_regeneration_can_be_stopped_by_its_command(rest, room, joined, gemini, stack):
    room_, tokens = room
    alice = joined(tokens["alice"], room_["room_id"])
    command = post(rest, room_, tokens["alice"], "@bot hi [fake:text=original]")
    assert deliver(stack) == []
    (first,) = bot_replies(rest, room_, tokens["alice"])
    assert regenerate(rest, room_, tokens["alice"], first["message_id"]).status == 202

    assert stop(rest, room_, tokens["alice"], command["message_id"]).status == 202
    assert deliver(stack) == []

    assert len(gemini.requests) == 1
    replies = bot_replies(rest, room_, tokens["alice"])
    assert [(r["content"], r["status"]) for r in replies] == [
        ("original", "complete"),
        ("", "stopped"),
    ]
    assert [f["stopped"] for f in finals(alice)] == [False, True]


# ------------------------------------------------------------------------------ resuming
def test_frames_carry_seq_and_code_point_offsets(rest, room, joined, gemini, stack):
    room_, tokens = room
    alice = joined(tokens["alice"], room_["room_id"])
    answer = "héllo 🎉 wörld, ünïcode 🚀 " * 20 + "the end"
    gemini.script(Reply(text=answer, words_per_event=2, event_delay=0.03))
    post(rest, room_, tokens["alice"], "@bot unicode please")

    assert deliver(stack) == []

    frames = stream_frames(alice)
    assert len(frames) > 5
    assert check_frames(frames) == answer
    assert frames[-1]["offset"] == len(answer)  # code points, not UTF-16 units or bytes


def test_checkpoints_hold_a_recent_prefix_and_a_reconnecting_client_rebuilds_the_answer(
    rest, room, joined, gemini, stack, worker, monkeypatch
):
    writes: list[str] = []
    real_checkpoint = message_table.checkpoint

    def counted(room_id, message_id, content, seq):
        writes.append(content)
        return real_checkpoint(room_id, message_id, content, seq)

    monkeypatch.setattr(message_table, "checkpoint", counted)
    room_, tokens = room
    alice = joined(tokens["alice"], room_["room_id"])
    post(rest, room_, tokens["alice"], "@bot [fake:tokens=180,words=1,seconds=6]")
    started = time.monotonic()
    running = worker()
    reply_id = first_chunk(alice)["message_id"]
    time.sleep(2.2)

    # While it streams, the stored message is a prefix at most ~1 s behind, still streaming
    sent = "".join(chunks_of(alice, reply_id))
    item = stored(room_["room_id"], reply_id)
    assert item["status"] == "streaming"
    assert item["content"] and sent.startswith(item["content"])
    # And a client connecting now rebuilds the answer from history plus later frames
    bob = joined(tokens["bob"], room_["room_id"])
    early = prefix_of(rest, room_, tokens["bob"], reply_id)
    # (a prefix read the contract's maximum age after joining covers all sent before the
    # join; the worker checkpoints every second, the margin is for a loaded machine)
    time.sleep(STORED_PREFIX_MAX_AGE + 0.2)
    late = prefix_of(rest, room_, tokens["bob"], reply_id)
    assert running.join() == []
    elapsed = time.monotonic() - started

    (final,) = finals(alice, reply_id)
    answer = final["full_response"]
    assert answer == stored(room_["room_id"], reply_id)["content"]
    later = [f for f in stream_frames(bob, reply_id) if not f["is_complete"]]
    assert later and later[0]["seq"] > 0  # bob joined mid-answer
    assert rebuild(late, later) == answer
    # the first read may lag the frames (a gap the client sees): never a wrong answer
    assert rebuild(early, later) in (None, answer)
    # Each checkpoint stored a longer prefix of the answer; at most one per second
    assert writes and all(answer.startswith(w) for w in writes)
    assert [len(w) for w in writes] == sorted({len(w) for w in writes})
    assert len(writes) <= elapsed / budget.BUDGET.checkpoint_interval + 1
