"""Big rooms: a frame for more connections than the threshold goes partly through the fan-out
queue and FanoutFunction (docs/big-rooms.md). The threshold and shard size are lowered so
that a room of a few sockets is big."""

from __future__ import annotations

import itertools
import json
import os
import threading
import time
from typing import Any

import boto3
import pytest
from aws_lambda_powertools.utilities.batch.exceptions import BatchProcessingError

from chat.adapters import big_rooms_settings
from chat.config import settings
from chat.dal import connections
from chat.dal.tables import table
from chat.logic.realtime.broadcast import ESTIMATE_DEVIATIONS, message_spread
from chat.queued_shard import slot_of, slot_range
from local.fake_gemini import Reply
from local.template import load_template
from tests.support.clients import RestClient, Sockets, WebSocketClient, handler_of
from tests.support.cloudformation import parameter_value
from tests.support.events import LambdaContext, sqs_event

THRESHOLD, SHARD_SIZE = 3, 2


def shard_settings(threshold: int, shard_size: int = SHARD_SIZE) -> None:
    """The template's big-room parameters set so (as the stack's BigRoomsSettings and the
    functions' environment would have them)."""
    value = parameter_value(
        load_template(),
        "BigRoomsSettings",
        {"FanoutShardThreshold": str(threshold), "FanoutShardSize": str(shard_size)},
    )
    boto3.client("ssm").put_parameter(
        Name=os.environ["BIG_ROOMS_PARAMETER"], Type="String", Value=value, Overwrite=True
    )
    os.environ["FANOUT_SHARD_THRESHOLD"] = str(threshold)
    os.environ["FANOUT_SHARD_SIZE"] = str(shard_size)
    settings.cache_clear()
    big_rooms_settings.forget()


@pytest.fixture
def big(monkeypatch: pytest.MonkeyPatch, stack: dict[str, Any]) -> dict[str, Any]:
    """A room is big from THRESHOLD + 1 recipients on."""
    monkeypatch.setenv("FANOUT_SHARD_THRESHOLD", str(THRESHOLD))  # restored after the test
    monkeypatch.setenv("FANOUT_SHARD_SIZE", str(SHARD_SIZE))
    shard_settings(THRESHOLD)
    return stack


@pytest.fixture
def crowd(big, room_with, connect):
    """A room of seven people, each with a socket subscribed to it."""
    names = [f"fan{i}" for i in range(7)]
    room, tokens = room_with(*names)
    clients = {}
    for name in names:
        client = connect(tokens[name])
        assert client.send({"type": "join", "room_id": room["room_id"]}) == 200
        clients[name] = client
    drain(big)  # the joins' presence frames, sharded too
    sockets = clients[names[0]].sockets
    sockets.clear()
    return room, tokens, clients


# ------------------------------------------------------------------------------ the queue
def receive(stack: dict[str, Any]) -> list[dict[str, Any]]:
    """The shards the event source (BatchSize 1) would hand over now: the first waiting
    message of each message group. SQS may return a group's next messages in the same
    receive; they wait here (visible again) until the one before them is done."""
    sqs = boto3.client("sqs")
    first: dict[str, dict[str, Any]] = {}
    later: list[dict[str, Any]] = []
    while batch := sqs.receive_message(
        QueueUrl=stack["fanout_url"],
        MaxNumberOfMessages=10,
        MessageAttributeNames=["All"],
        AttributeNames=["All"],
    ).get("Messages", []):
        for message in batch:
            group = message["Attributes"]["MessageGroupId"]
            if group in first:
                later.append(message)
            else:
                first[group] = message
    for message in later:
        sqs.change_message_visibility(
            QueueUrl=stack["fanout_url"],
            ReceiptHandle=message["ReceiptHandle"],
            VisibilityTimeout=0,
        )
    return list(first.values())


def invoke(stack: dict[str, Any], records: list[dict[str, Any]], *, delete: bool = True) -> list:
    """FanoutFunction on one record at a time, as its event source (BatchSize 1) runs it;
    succeeded records are deleted. Returns the failed records' ids."""
    sqs = boto3.client("sqs")
    arn = sqs.get_queue_attributes(QueueUrl=stack["fanout_url"], AttributeNames=["QueueArn"])[
        "Attributes"
    ]["QueueArn"]
    failed = []
    for record in records:
        try:
            response = handler_of("FanoutFunction")(
                sqs_event([record], arn), LambdaContext("FanoutFunction", 30_000)
            )
            failed += [item["itemIdentifier"] for item in response["batchItemFailures"]]
        except BatchProcessingError:
            failed.append(record["MessageId"])
        if delete and record["MessageId"] not in failed:
            sqs.delete_message(QueueUrl=stack["fanout_url"], ReceiptHandle=record["ReceiptHandle"])
    return failed


def drain(stack: dict[str, Any]) -> int:
    """Push every shard on the queue, round after round (a FIFO group hands over its next
    message once the one before is done); the number of records handled."""
    handled = 0
    while records := receive(stack):
        assert invoke(stack, records) == []
        handled += len(records)
    return handled


def shard_connections(body: dict[str, Any], clients: dict[str, WebSocketClient]) -> list[str]:
    """The connections of the room a queued shard is for: its list, or the room's sockets
    in its range of slots (less the ones it skips and the user it leaves out)."""
    if "connections" in body:
        return list(body["connections"])
    first, last = body["slots"]
    return [
        c.connection_id
        for name, c in clients.items()
        if first <= slot_of(c.connection_id) <= last
        and c.connection_id not in body.get("skip", [])
        and body.get("exclude_user") != name
    ]


def frames_of(sockets: Sockets, client: WebSocketClient, frame_type: str) -> list[dict]:
    return sockets.frames(client.connection_id, frame_type)


def post(rest: RestClient, room: dict, token: str, content: str) -> dict:
    result = rest.post(f"/rooms/{room['room_id']}/messages", {"content": content}, token=token)
    assert result.status == 201, result.body
    return result.body


# ------------------------------------------------------------------------------ tests
def test_a_message_to_a_big_room_reaches_every_socket_once_through_the_shards(
    big, crowd, rest, sockets
):
    room, _, clients = crowd
    # When fan0 sends over the WebSocket (its own socket gets the ack)
    sender = clients["fan0"]
    assert sender.send({"type": "message", "room_id": room["room_id"], "content": "hi all"}) == 200
    # Then the sender's function pushed to its own socket and bucket 0 ...
    assert len(frames_of(sockets, sender, "message")) == 1
    inline = {c.connection_id for c in clients.values() if frames_of(sockets, c, "message")}
    # ... and queued the other buckets as ranges of slots: it read only the room's first
    # page (THRESHOLD + 1 subscriptions), and the room has more
    shards = receive(big)
    bodies = [json.loads(record["Body"]) for record in shards]
    (count,) = {body["buckets"] for body in bodies}
    assert {body["bucket"] for body in bodies} == set(range(1, count))
    assert all(body["slots"] == list(slot_range(body["bucket"], count)) for body in bodies)
    assert all(body["skip"] == [sender.connection_id] for body in bodies)
    queued = [c for body in bodies for c in shard_connections(body, clients)]
    assert sorted(inline | set(queued)) == sorted(c.connection_id for c in clients.values())
    assert not inline & set(queued)
    assert {r["Attributes"]["MessageGroupId"] for r in shards} == {
        f"{room['room_id']}.{count}.{body['bucket']}" for body in bodies
    }
    # When the fan-out function pushes them
    assert invoke(big, shards) == []
    # Then every socket has the message exactly once, the same frame whichever path it took
    received = {name: frames_of(sockets, c, "message") for name, c in clients.items()}
    assert all(len(frames) == 1 for frames in received.values()), received
    assert len({json.dumps(frames[0], sort_keys=True) for frames in received.values()}) == 1
    assert received["fan3"][0]["content"] == "hi all"
    assert receive(big) == []


def test_a_small_room_and_a_big_room_get_the_same_frame(big, crowd, rest, sockets, monkeypatch):
    room, tokens, clients = crowd
    frames = []
    for threshold in (1000, THRESHOLD):  # the direct path, then the sharded one
        shard_settings(threshold)
        sockets.clear()
        post(rest, room, tokens["fan1"], "same words")
        queued = drain(big)
        assert (queued > 0) == (threshold == THRESHOLD)
        per_socket = [frames_of(sockets, c, "message") for c in clients.values()]
        assert all(len(f) == 1 for f in per_socket)
        frames.append(per_socket[-1][0])
    direct, sharded = (
        {k: v for k, v in f.items() if k not in ("message_id", "created_at")} for f in frames
    )
    assert direct == sharded


def test_each_socket_gets_a_big_rooms_frames_in_order(big, crowd, rest, sockets):
    room, tokens, clients = crowd
    for index in range(4):
        post(rest, room, tokens["fan1"], f"number {index}")
    # each bucket's four shards are one message group: handed over one after the other
    assert drain(big) > 0
    for client in clients.values():
        contents = [f["content"] for f in frames_of(sockets, client, "message")]
        assert contents == [f"number {i}" for i in range(4)]


def test_a_shard_handed_over_again_is_not_pushed_again(big, crowd, rest, sockets):
    room, tokens, clients = crowd
    post(rest, room, tokens["fan1"], "once only")
    shards = receive(big)
    # SQS hands every shard over twice (it may: a batch that failed after the shard was
    # pushed comes back, or a message is delivered twice)
    assert invoke(big, shards, delete=False) == []
    assert invoke(big, shards) == []
    for client in clients.values():
        assert len(frames_of(sockets, client, "message")) == 1


def marker(shard_id: str, state: str, lease_from_now: int) -> None:
    """Given: a shard's marker as another invocation left it."""
    table("connections").put_item(
        Item={
            "pk": f"SHARD#{shard_id}",
            "sk": "SHARD",
            "state": state,
            "lease_until": int(time.time()) + lease_from_now,
            "expires_at": int(time.time()) + 3600,
        }
    )


def test_a_shard_whose_pusher_died_is_pushed_again(big, crowd, rest, sockets):
    room, tokens, clients = crowd
    post(rest, room, tokens["fan1"], "at least once")
    shards = receive(big)
    for record in shards:  # claimed, then the invocation died (its lease ran out)
        marker(json.loads(record["Body"])["shard_id"], "claimed", -1)
    assert invoke(big, shards) == []
    for client in clients.values():
        assert len(frames_of(sockets, client, "message")) == 1


def test_a_shard_being_pushed_elsewhere_is_skipped(big, crowd, rest, sockets):
    room, tokens, clients = crowd
    post(rest, room, tokens["fan1"], "concurrently")
    shards = receive(big)
    inline = [c for c in clients.values() if frames_of(sockets, c, "message")]
    for record in shards:  # another invocation holds it (its lease still runs)
        marker(json.loads(record["Body"])["shard_id"], "claimed", 60)
    assert invoke(big, shards) == []
    assert [c for c in clients.values() if frames_of(sockets, c, "message")] == inline


def test_gone_connections_in_a_shard_are_cleaned_up_and_announced(big, crowd, rest, sockets):
    room, tokens, clients = crowd
    post(rest, room, tokens["fan1"], "who is still here")
    shards = receive(big)
    queued = [c for r in shards for c in shard_connections(json.loads(r["Body"]), clients)]
    gone = next(name for name, c in clients.items() if c.connection_id == queued[0])
    sockets.gone.add(clients[gone].connection_id)  # API Gateway answers 410 (moto never does)
    sockets.clear()
    assert invoke(big, shards) == []
    # The gone connection is forgotten (its subscription too) ...
    subscribed = {s["connection_id"] for s in connections.room_subscribers(room["room_id"])}
    assert subscribed == {c.connection_id for n, c in clients.items() if n != gone}
    # ... and, its user's last socket, the others hear them go offline (through the shards)
    drain(big)
    for name, client in clients.items():
        offline = [
            f
            for f in frames_of(sockets, client, "presence")
            if f["username"] == gone and f["status"] == "offline"
        ]
        assert len(offline) == (0 if name == gone else 1), name


def test_throttled_pushes_are_pushed_again_later_alone_and_in_order(big, crowd, rest, sockets):
    room, tokens, clients = crowd
    post(rest, room, tokens["fan1"], "first")
    post(rest, room, tokens["fan1"], "second")
    shards = receive(big)  # each group's first: the shards of "first"
    queued = [c for r in shards for c in shard_connections(json.loads(r["Body"]), clients)]
    throttled = set(queued[:2])
    sockets.throttled |= throttled  # API Gateway answers 429: the account's rate
    # The shards with throttled pushes fail (their records come back), the others are done
    failed = invoke(big, shards)
    assert failed and all(
        set(shard_connections(json.loads(r["Body"]), clients)) & throttled
        for r in shards
        if r["MessageId"] in failed
    )
    assert all(not sockets.sent.get(c) for c in throttled)
    assert all(len(sockets.sent[c]) == 1 for c in queued if c not in throttled)
    # When the records come back (the throttle over), only the throttled ones are pushed,
    # and "second" follows "first" on every socket
    sockets.throttled.clear()
    boto3_sqs = boto3.client("sqs")
    for record in shards:
        if record["MessageId"] in failed:
            boto3_sqs.change_message_visibility(
                QueueUrl=big["fanout_url"],
                ReceiptHandle=record["ReceiptHandle"],
                VisibilityTimeout=0,
            )
    drain(big)
    for client in clients.values():
        contents = [f["content"] for f in frames_of(sockets, client, "message")]
        assert contents == ["first", "second"], client.connection_id


def test_a_shard_the_queue_refuses_is_pushed_by_the_sender(big, crowd, rest, sockets, monkeypatch):
    from chat.adapters import fanout_queue

    room, tokens, clients = crowd
    monkeypatch.setattr(fanout_queue, "send", lambda shards: list(shards))
    post(rest, room, tokens["fan1"], "no queue today")
    assert receive(big) == []
    for client in clients.values():
        assert len(frames_of(sockets, client, "message")) == 1


# ------------------------------------------------------------------------------ bot answers
API_KEY = "AIzaROOM-key-for-the-big-room-tests-01"


@pytest.fixture
def keyed_crowd(big, gemini, register, rest, connect):
    """Seven people, a socket each, in a room with its own Gemini key."""
    names = [f"fan{i}" for i in range(7)]
    tokens = {name: register(name) for name in names}
    room = rest.post(
        "/rooms", {"name": "stadium", "gemini_api_key": API_KEY}, token=tokens[names[0]]
    ).body
    for name in names[1:]:
        assert rest.post("/rooms/join", {"code": room["code"]}, token=tokens[name]).status == 200
    clients = {}
    for name in names:
        clients[name] = connect(tokens[name])
        assert clients[name].send({"type": "join", "room_id": room["room_id"]}) == 200
    drain(big)
    return room, tokens, clients


def answer_now(stack: dict[str, Any], rest: RestClient, room: dict, token: str) -> dict:
    """Post a command and run the worker on it, as its queue's event source would."""
    command = post(rest, room, token, "@bot tell everyone")
    sqs = boto3.client("sqs")
    records = sqs.receive_message(
        QueueUrl=stack["queue_url"], MaxNumberOfMessages=10, AttributeNames=["All"]
    )["Messages"]
    arn = sqs.get_queue_attributes(QueueUrl=stack["queue_url"], AttributeNames=["QueueArn"])[
        "Attributes"
    ]["QueueArn"]
    response = handler_of("BotWorkerFunction")(
        sqs_event(records, arn), LambdaContext("BotWorkerFunction", 120_000)
    )
    assert response["batchItemFailures"] == []
    return command


def streams(sockets: Sockets, clients: dict[str, WebSocketClient]) -> dict[str, str]:
    """Each socket's answer as its chunks put it together (checked whole and in order)."""
    texts = {}
    for name, client in clients.items():
        frames = frames_of(sockets, client, "bot_stream")
        chunks = [f for f in frames if not f["is_complete"]]
        assert [f["seq"] for f in chunks] == list(range(len(chunks))), name
        (final,) = [f for f in frames if f["is_complete"]]
        texts[name] = "".join(f["chunk"] for f in chunks)
        assert texts[name] == final["full_response"], name
    return texts


def test_a_bot_answer_in_a_big_room_keeps_to_its_share_of_the_send_budget(
    big, keyed_crowd, gemini, rest, sockets, monkeypatch
):
    from chat.logic.bot import pacing

    room, tokens, clients = keyed_crowd
    # Given a room of 7 counts as big, and an answer's share is 14 pushes a second
    monkeypatch.setattr(pacing, "PACED_ABOVE", 3)
    value = parameter_value(
        load_template(),
        "BigRoomsSettings",
        {
            "FanoutShardThreshold": str(THRESHOLD),
            "FanoutShardSize": str(SHARD_SIZE),
            "SendBudgetPerSecond": "14",
            "BotWorkerMaxConcurrency": "2",  # the smallest the template allows
        },
    )
    boto3.client("ssm").put_parameter(
        Name=os.environ["BIG_ROOMS_PARAMETER"], Type="String", Value=value, Overwrite=True
    )
    big_rooms_settings.forget()
    gemini.script(Reply(tokens=60, seconds=2.0, words_per_event=1))
    began: list[tuple[float, int]] = []  # when each frame's pushes began, to how many
    sent = pacing.SendPacer.sent

    def recording(self, recipients, throttled=0, *, at=None):
        began.append((self.clock() if at is None else at, recipients))
        return sent(self, recipients, throttled, at=at)

    monkeypatch.setattr(pacing.SendPacer, "sent", recording)
    queued = queued_shards(monkeypatch)
    # When the bot answers
    answer_now(big, rest, room, tokens["fan1"])
    drain(big)
    # Then each frame waited its turn: 7 connections (or the most the room's first page
    # suggests: its frames go in ranges of slots) at 7 pushes a second, 0.98 s apart (the
    # contract's 1 s less a margin): 7 / 0.98 = 7.1 pushes a second
    (recipients,) = {n for _, n in began}
    assert recipients >= len(clients)
    gaps = [b - a for (a, _), (b, _) in itertools.pairwise(began)]
    assert len(gaps) >= 4 and min(gaps) >= 0.98 - 0.001, gaps
    # and each frame's pushes were spread over its 0.98 s, the first one's too (the reply's
    # row: the room's size was not known before it went)
    row = next(shards for _, shards in queued if json.loads(shards[0].frame)["username"] == "bot")
    # (or over what the account's whole budget asks for that many frames a second, and 1 %
    # more, or over what it asks for that many pushes at once, if longer)
    pace = max(0.98, recipients * pacing.BUDGET_MARGIN / 14)
    expected = max(pace, message_spread(recipients, 14, row[0].buckets))
    assert spread_of(row) == pytest.approx(expected, abs=0.05)
    # and every socket has the whole answer, once, in order
    texts = streams(sockets, clients)
    assert len(set(texts.values())) == 1 and len(next(iter(texts.values())).split()) == 60
    frames = frames_of(sockets, clients["fan0"], "bot_stream")
    assert len(frames) <= len(began) - 3  # row, typing on and off: fewer, longer chunks
    assert len(frames) < 10  # than the 0.1 s window's ~20


def test_throttled_bot_pushes_back_off_and_leave_no_gap(big, keyed_crowd, gemini, rest, sockets):
    room, tokens, clients = keyed_crowd
    shard_settings(1000)  # a small room: the worker pushes to every socket itself
    gemini.script(Reply(tokens=40, seconds=1.5, words_per_event=1))
    victim = clients["fan3"].connection_id
    sockets.throttled.add(victim)  # API Gateway throttles this socket's pushes for a while
    threading.Timer(0.8, sockets.throttled.discard, args=(victim,)).start()
    answer_now(big, rest, room, tokens["fan1"])
    texts = streams(sockets, clients)
    assert len(set(texts.values())) == 1  # the throttled socket has the whole answer too
    assert len(texts["fan3"].split()) == 40


def queued_shards(monkeypatch: pytest.MonkeyPatch) -> list[tuple[float, list[Any]]]:
    """Every list of shards handed to the fan-out queue from now on, with when."""
    from chat.adapters import fanout_queue

    queued: list[tuple[float, list[Any]]] = []
    send = fanout_queue.send

    def recording(shards):
        queued.append((time.time(), list(shards)))
        return send(shards)

    monkeypatch.setattr(fanout_queue, "send", recording)
    return queued


def spread_of(shards: list[Any]) -> float:
    """Seconds over which a frame's buckets were spread (bucket b of B begins b / B of it
    after the frame's broadcast began), from two of its shards' not_before."""
    buckets = shards[0].buckets  # bucket 0 is the sender's own
    first, last = min(shards, key=lambda s: s.bucket), max(shards, key=lambda s: s.bucket)
    assert first.not_before is not None and last.not_before is not None
    return (last.not_before - first.not_before) * buckets / (last.bucket - first.bucket)


def test_a_big_message_is_spread_within_the_send_budget(big, crowd, rest, sockets, monkeypatch):
    room, tokens, clients = crowd
    # Given an account whose send budget is 8 pushes a second (a burst of 4): a message to
    # the room's 7 sockets is more than the burst takes at once
    value = parameter_value(
        load_template(),
        "BigRoomsSettings",
        {
            "FanoutShardThreshold": str(THRESHOLD),
            "FanoutShardSize": str(SHARD_SIZE),
            "SendBudgetPerSecond": "8",
        },
    )
    boto3.client("ssm").put_parameter(
        Name=os.environ["BIG_ROOMS_PARAMETER"], Type="String", Value=value, Overwrite=True
    )
    monkeypatch.setenv("SEND_BUDGET_PER_SECOND", "8")
    settings.cache_clear()
    big_rooms_settings.forget()
    queued = queued_shards(monkeypatch)
    # When a message is posted
    post(rest, room, tokens["fan0"], "to everyone")
    ((_, shards),) = queued
    # Then its buckets begin one after the other, so that its pushes keep to the budget
    # (broadcast.message_spread) for as many sockets as the room's first page suggests at
    # the most (its estimate, two standard deviations up)
    page = connections.first_subscribers(room["room_id"], THRESHOLD + 1)
    most = page.estimate(deviations=ESTIMATE_DEVIATIONS)
    assert most >= len(clients)
    expected = message_spread(most, 8, shards[0].buckets)
    assert expected > 0.3 and spread_of(shards) == pytest.approx(expected, abs=0.02)
    # and the fan-out function pushes none before its time, every socket gets it once
    records = receive(big)
    started = time.time()
    assert invoke(big, records) == []
    assert time.time() >= max(s.not_before for s in shards) - 0.01
    assert time.time() - started < expected + 1.0
    for client in clients.values():
        assert len(frames_of(sockets, client, "message")) == 1


def test_a_spread_frames_buckets_begin_one_after_the_other_over_the_spread(big, crowd, sockets):
    from chat.frames import TypingFrame
    from chat.logic.realtime import presence

    room, _, clients = crowd
    sent_at = time.time()
    frame = TypingFrame(room_id=room["room_id"], username="bot", is_typing=True)
    presence.send_to_room(room["room_id"], frame, spread=0.8)
    shards = receive(big)
    bodies = {json.loads(r["Body"])["bucket"]: json.loads(r["Body"]) for r in shards}
    (buckets,) = {body["buckets"] for body in bodies.values()}
    for bucket, body in bodies.items():
        assert body["not_before"] == pytest.approx(sent_at + 0.8 * bucket / buckets, abs=0.05)
    # the fan-out function does not push a shard before its time
    last = max(bodies)
    record = next(r for r in shards if json.loads(r["Body"])["bucket"] == last)
    assert invoke(big, [record]) == []
    assert time.time() >= bodies[last]["not_before"] - 0.01
    assert invoke(big, [r for r in shards if r is not record]) == []
    for client in clients.values():
        assert len(frames_of(sockets, client, "typing")) == 1


def test_a_private_frame_in_a_big_room_reaches_its_one_person_only(big, crowd, sockets):
    from chat.frames import TypingFrame
    from chat.logic.realtime import presence

    room, _, clients = crowd
    # Given a room bigger than its first page (7 sockets, a page of THRESHOLD + 1)
    frame = TypingFrame(room_id=room["room_id"], username="bot", is_typing=True)
    # When a frame goes to one person's sockets only (a private command's)
    presence.send_to_room(room["room_id"], frame, only_username="fan2")
    # Then the whole room was read for them: nothing queued, and only they have it
    assert receive(big) == []
    for name, client in clients.items():
        assert len(frames_of(sockets, client, "typing")) == (1 if name == "fan2" else 0), name
