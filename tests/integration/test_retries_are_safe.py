"""Retries are safe (docs/API.md, Messages): a message whose sender already used its
`client_id` in the room within 24 hours is neither stored nor pushed again; REST answers 200
with the stored message, the WebSocket sends the sender's socket alone the stored message's
frame again. Claims are conditional writes in the message's own transaction, so concurrent
sends of one `client_id` store one message."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from threading import Barrier
from types import SimpleNamespace
from typing import Any

import boto3
import pytest
from moto.core.botocore_stubber import BotocoreStubber

from chat.config import settings
from chat.dal import client_ids
from tests.integration.test_attachments import BUCKET, uploaded
from tests.support.clients import RestClient


def _post(rest, room, token, content, client_id, **extra):
    return rest.post(
        f"/rooms/{room['room_id']}/messages",
        {"content": content, "client_id": client_id, **extra},
        token=token,
    )


def _history(rest, room, token) -> list[dict[str, Any]]:
    return rest.get(f"/rooms/{room['room_id']}/messages", token=token).body["messages"]


def _joined(connect, token, room_id):
    client = connect(token)
    client.send({"type": "join", "room_id": room_id})
    return client


def _queued(stack) -> int:
    attributes = boto3.client("sqs").get_queue_attributes(
        QueueUrl=stack["queue_url"],
        AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
    )["Attributes"]
    return sum(int(value) for value in attributes.values())


def test_a_rest_retry_is_answered_200_with_the_stored_message_and_pushed_to_nobody(
    rest, room_with, connect
):
    # Given bob follows the room, and alice's first send was stored (its answer lost to her)
    room, tokens = room_with("alice", "bob")
    bob = _joined(connect, tokens["bob"], room["room_id"])
    first = _post(rest, room, tokens["alice"], "hello", "c-1")
    assert first.status == 201
    # When she sends it again with the same client_id (even with other text)
    again = _post(rest, room, tokens["alice"], "hello?", "c-1")
    # Then she gets 200 and the message stored the first time; nothing else happened
    assert again.status == 200, again.body
    assert again.body == first.body
    assert [m["message_id"] for m in _history(rest, room, tokens["bob"])] == [
        first.body["message_id"]
    ]
    assert [f["message_id"] for f in bob.frames("message")] == [first.body["message_id"]]


def test_a_websocket_retry_gets_the_stored_frame_again_on_the_senders_socket_only(
    rest, room_with, connect
):
    room, tokens = room_with("alice", "bob")
    alice = _joined(connect, tokens["alice"], room["room_id"])
    bob = _joined(connect, tokens["bob"], room["room_id"])
    other_tab = _joined(connect, tokens["alice"], room["room_id"])
    frame = {"type": "message", "room_id": room["room_id"], "content": "hi", "client_id": "c-7"}
    alice.send(frame)
    (stored,) = bob.frames("message")
    # When alice's app sends the frame again (it saw no ack)
    alice.send({**frame, "content": "hi again"})
    # Then her socket gets the stored message's frame again as its ack; nobody else does
    acks = alice.frames("message")
    assert [f["message_id"] for f in acks] == [stored["message_id"]] * 2
    assert acks[1] == acks[0] == stored
    assert len(bob.frames("message")) == 1
    assert len(other_tab.frames("message")) == 1
    assert alice.frames("error") == []
    assert len(_history(rest, room, tokens["bob"])) == 1


def test_a_retry_over_the_other_transport_is_a_repeat_too(rest, room_with, connect):
    room, tokens = room_with("alice", "bob")
    bob = _joined(connect, tokens["bob"], room["room_id"])
    first = _post(rest, room, tokens["alice"], "by rest", "c-9")
    alice = connect(tokens["alice"])  # not even joined: the ack goes to the sending socket
    alice.send({"type": "message", "room_id": room["room_id"], "content": "x", "client_id": "c-9"})
    assert [f["message_id"] for f in alice.frames("message")] == [first.body["message_id"]]
    assert len(bob.frames("message")) == 1


def test_a_repeat_shows_the_message_as_it_is_now(rest, room_with):
    room, tokens = room_with("alice")
    first = _post(rest, room, tokens["alice"], "draft", "c-1")
    message_id = first.body["message_id"]
    edited = rest.call(
        "PATCH",
        f"/rooms/{room['room_id']}/messages/{message_id}",
        body={"content": "final"},
        token=tokens["alice"],
    )
    assert edited.status == 200
    again = _post(rest, room, tokens["alice"], "draft", "c-1")
    assert again.status == 200
    assert again.body["content"] == "final" and again.body["edited_at"] is not None


def test_a_client_id_is_the_senders_own_in_each_room(rest, register, room_with):
    room, tokens = room_with("alice", "bob")
    other = rest.post("/rooms", {"name": "other"}, token=tokens["alice"]).body
    # The same client_id from another sender, or in another room, is another message
    assert _post(rest, room, tokens["alice"], "a", "same").status == 201
    assert _post(rest, room, tokens["bob"], "b", "same").status == 201
    assert _post(rest, other, tokens["alice"], "c", "same").status == 201
    assert [m["content"] for m in _history(rest, room, tokens["alice"])] == ["a", "b"]
    # and messages without a client_id are never repeats
    assert _post(rest, room, tokens["alice"], "d", None).status == 201
    assert _post(rest, room, tokens["alice"], "d", None).status == 201


def test_a_client_id_counts_for_24_hours(rest, room_with, monkeypatch):
    room, tokens = room_with("alice")
    # The claim's clock reads (whole seconds) fall between these two, however slow the send.
    before = time.time()
    first = _post(rest, room, tokens["alice"], "once", "c-1")
    after = time.time()
    # One second short of 24 hours it is still a repeat …
    monkeypatch.setattr(client_ids, "time", SimpleNamespace(time=lambda: before + 24 * 3600 - 1))
    assert _post(rest, room, tokens["alice"], "once", "c-1").body == first.body
    # … after that (the claim expired; moto's TTL never deletes it) it is a new message
    monkeypatch.setattr(client_ids, "time", SimpleNamespace(time=lambda: after + 24 * 3600 + 1))
    later = _post(rest, room, tokens["alice"], "once", "c-1")
    assert later.status == 201 and later.body["message_id"] != first.body["message_id"]
    # … and it claims the client_id for the next 24 hours
    assert _post(rest, room, tokens["alice"], "once", "c-1").body == later.body


def test_a_repeated_command_is_queued_once_and_counts_once_against_the_limits(
    rest, room_with, stack, monkeypatch
):
    monkeypatch.setenv("BOT_USER_COMMANDS_PER_MINUTE", "1")
    settings.cache_clear()
    room, tokens = room_with("alice")
    first = _post(rest, room, tokens["alice"], "@bot hello", "cmd-1")
    assert first.status == 201 and _queued(stack) == 1
    # The retry is answered with the command, not refused by the limit it already used …
    again = _post(rest, room, tokens["alice"], "@bot hello", "cmd-1")
    assert again.status == 200 and again.body == first.body
    assert _queued(stack) == 1
    # … while a new command is limited
    assert _post(rest, room, tokens["alice"], "@bot more", "cmd-2").status == 429


def test_a_repeated_message_with_attachments_copies_no_file_again(rest, room_with):
    room, tokens = room_with("alice")
    image = uploaded(rest, room, tokens["alice"])
    first = _post(rest, room, tokens["alice"], "look", "with-file", attachments=[image])
    assert first.status == 201, first.body

    def copies() -> list[str]:
        listing = boto3.client("s3").list_objects_v2(Bucket=BUCKET, Prefix="rooms/")
        return [item["Key"] for item in listing.get("Contents", [])]

    before = copies()
    again = _post(rest, room, tokens["alice"], "look", "with-file", attachments=[image])
    assert again.status == 200, again.body
    assert again.body["message_id"] == first.body["message_id"]
    assert [a["attachment_id"] for a in again.body["attachments"]] == [image]
    assert copies() == before


def test_a_member_who_left_cannot_read_a_message_back_by_its_client_id(rest, room_with):
    room, tokens = room_with("alice", "bob")
    assert _post(rest, room, tokens["bob"], "@bot hi", "c-1").status == 201
    assert _post(rest, room, tokens["bob"], "plain", "c-2").status == 201
    assert rest.delete(f"/rooms/{room['room_id']}/members/me", token=tokens["bob"]).status == 204
    for content, client_id in (("@bot hi", "c-1"), ("plain", "c-2")):
        refused = _post(rest, room, tokens["bob"], content, client_id)
        assert refused.status == 404 and refused.error_code == "not_found"


# ------------------------------------------------------------------------------ concurrency
N = 8


@pytest.fixture
def atomic_moto(monkeypatch):
    """Each moto request atomic, as each DynamoDB request is (moto's backend has no locks);
    the handlers still run concurrently and race each other between requests."""
    lock = threading.Lock()
    original = BotocoreStubber.__call__

    def atomic(self, *args, **kwargs):
        with lock:
            return original(self, *args, **kwargs)

    monkeypatch.setattr(BotocoreStubber, "__call__", atomic)


@pytest.mark.parametrize("content", ["plain text", "@bot a command"])
def test_concurrent_sends_of_one_client_id_store_one_message(
    stack, room_with, connect, atomic_moto, content
):
    room, tokens = room_with("alice", "bob")
    bob = _joined(connect, tokens["bob"], room["room_id"])
    rest = RestClient(container_per_thread=True)  # each thread its own Lambda containers
    barrier = Barrier(N)

    def send(_: int):
        barrier.wait()
        return _post(rest, room, tokens["alice"], content, "racing")

    with ThreadPoolExecutor(max_workers=N) as pool:
        results = list(pool.map(send, range(N)))
    # Then one was stored (201), every other answered with it (200), and it went out once
    assert sorted(r.status for r in results) == [200] * (N - 1) + [201]
    assert len({r.body["message_id"] for r in results}) == 1
    assert len(_history(rest, room, tokens["bob"])) == 1
    assert len(bob.frames("message")) == 1
    if content.startswith("@bot"):
        assert _queued(stack) == 1
