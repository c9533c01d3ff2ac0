"""Mentions end to end on moto: parsed on the server, stored on the message, the `mention`
frame (by the notifier) on every open connection of the mentioned member, `mention_count`
in the room list, `GET /mentions`; edits and deletions follow; and what a mention costs the
message hot path."""

from __future__ import annotations

import json
from collections import Counter
from typing import Any

import pytest

from chat import aws
from chat.logic.conversation import messages
from tests.support.clients import RestClient, WebSocketClient
from tests.support.notifier import queued_jobs, run_notifier


# ------------------------------------------------------------------------------ helpers
def _post(rest: RestClient, room: dict[str, Any], token: str, content: str) -> dict[str, Any]:
    result = rest.post(f"/rooms/{room['room_id']}/messages", {"content": content}, token=token)
    assert result.status == 201, result.body
    return result.body


def _summary(rest: RestClient, room_id: str, token: str) -> dict[str, Any]:
    rooms = rest.get("/rooms", token=token).body["rooms"]
    return next(room for room in rooms if room["room_id"] == room_id)


def _inbox(rest: RestClient, token: str, **query: Any) -> dict[str, Any]:
    result = rest.get("/mentions", token=token, query={k: str(v) for k, v in query.items()})
    assert result.status == 200, result.body
    return result.body


@pytest.fixture
def notify(stack):
    """Run the notifier on every job queued so far; the failed records' ids."""
    return lambda: run_notifier(stack["notifications_queue_url"])


@pytest.fixture
def team(room_with, register):
    """alice's group room with bob, carol and dave; erin exists but is not a member."""
    room, tokens = room_with("alice", "bob", "carol", "dave")
    tokens["erin"] = register("erin")
    return room, tokens


# ------------------------------------------------------------------------------ parsing
def test_a_message_mentions_the_human_members_it_names_once_in_order(rest, team):
    room, tokens = team
    # When alice names members (any case, twice), a non-member, the bot, herself, an e-mail
    content = "@Carol look, @BOB too (@carol again), not @erin, @bot, @alice, bob@dave.com"
    message = _post(rest, room, tokens["alice"], content)
    # Then the stored message mentions carol and bob, as they registered, never herself
    assert message["mentions"] == ["carol", "bob"]
    history = rest.get(f"/rooms/{room['room_id']}/messages", token=tokens["dave"]).body
    assert history["messages"][-1]["mentions"] == ["carol", "bob"]


def test_a_message_over_the_websocket_carries_its_mentions_in_the_room_frame(rest, team, connect):
    room, tokens = team
    alice, dave = connect(tokens["alice"]), connect(tokens["dave"])
    for client in (alice, dave):
        client.send({"type": "join", "room_id": room["room_id"]})
    alice.send({"type": "message", "room_id": room["room_id"], "content": "hey @dave"})
    (frame,) = dave.frames("message")
    assert frame["mentions"] == ["dave"]


# ------------------------------------------------------------------------------ the frame
def test_the_mentioned_get_the_frame_on_every_open_connection_joined_or_not(
    rest, team, connect, notify
):
    room, tokens = team
    # Given bob with two connections, one joined to the room and one not; carol offline
    bob_joined, bob_elsewhere = connect(tokens["bob"]), connect(tokens["bob"])
    bob_joined.send({"type": "join", "room_id": room["room_id"]})
    dave = connect(tokens["dave"])
    # When alice mentions bob and carol, and the notifier runs
    message = _post(rest, room, tokens["alice"], "@bob @carol ship it")
    assert notify() == []
    # Then each of bob's connections got the mention frame, once; dave (not named) none
    expected = {
        "type": "mention",
        "room_id": room["room_id"],
        "message_id": message["message_id"],
        "username": "alice",
        "content": "@bob @carol ship it",
    }
    assert bob_joined.frames("mention") == [expected]
    assert bob_elsewhere.frames("mention") == [expected]
    assert dave.frames("mention") == []


def test_every_stored_message_queues_one_job_for_the_notifier(rest, team, stack):
    room, tokens = team
    message = _post(rest, room, tokens["alice"], "plain")
    jobs = [json.loads(job["Body"]) for job in queued_jobs(stack["notifications_queue_url"])]
    assert jobs == [
        {"kind": "message", "room_id": room["room_id"], "message_id": message["message_id"]}
    ]


# ------------------------------------------------------------------------------ counts, inbox
def test_mention_count_counts_unread_mentions_until_read(rest, team):
    room, tokens = team
    _post(rest, room, tokens["alice"], "morning all")
    first = _post(rest, room, tokens["alice"], "@bob one")
    _post(rest, room, tokens["carol"], "@BOB two, @dave")
    summary = _summary(rest, room["room_id"], tokens["bob"])
    assert (summary["unread_count"], summary["mention_count"]) == (3, 2)
    assert _summary(rest, room["room_id"], tokens["dave"])["mention_count"] == 1
    assert _summary(rest, room["room_id"], tokens["alice"])["mention_count"] == 0
    # When bob reads up to the first mention, one is left
    rest.put(
        f"/rooms/{room['room_id']}/read", {"message_id": first["message_id"]}, token=tokens["bob"]
    )
    assert _summary(rest, room["room_id"], tokens["bob"])["mention_count"] == 1


def test_the_inbox_lists_mentions_newest_first_across_rooms_and_pages(rest, team, room_with):
    room, tokens = team
    other = rest.post("/rooms", {"name": "other"}, token=tokens["carol"]).body
    rest.post(f"/rooms/{other['room_id']}/invite", {"username": "bob"}, token=tokens["carol"])
    sent = [
        _post(rest, room, tokens["alice"], "@bob 1"),
        _post(rest, other, tokens["carol"], "@bob 2"),
        _post(rest, room, tokens["dave"], "not him"),
        _post(rest, room, tokens["carol"], "@bob 3"),
    ]
    page = _inbox(rest, tokens["bob"], limit=2)
    assert [m["content"] for m in page["mentions"]] == ["@bob 3", "@bob 2"]
    assert page["next_before"] == sent[1]["message_id"]
    rest_of_it = _inbox(rest, tokens["bob"], limit=2, before=page["next_before"])
    assert [m["content"] for m in rest_of_it["mentions"]] == ["@bob 1"]
    assert rest_of_it["next_before"] is None
    assert _inbox(rest, tokens["alice"]) == {"mentions": [], "next_before": None}


def test_the_inbox_leaves_out_rooms_the_member_left(rest, team):
    room, tokens = team
    other = rest.post("/rooms", {"name": "other"}, token=tokens["carol"]).body
    rest.post(f"/rooms/{other['room_id']}/invite", {"username": "bob"}, token=tokens["carol"])
    _post(rest, other, tokens["carol"], "@bob in other")
    _post(rest, room, tokens["carol"], "@bob in team")
    assert rest.delete(f"/rooms/{other['room_id']}/members/me", token=tokens["bob"]).status == 204
    assert [m["content"] for m in _inbox(rest, tokens["bob"])["mentions"]] == ["@bob in team"]


# ------------------------------------------------------------------------------ edits, deletes
def test_an_edit_moves_the_mentions_and_frames_the_newly_mentioned(
    rest, team, connect, notify, sockets
):
    room, tokens = team
    carol, bob = connect(tokens["carol"]), connect(tokens["bob"])
    message = _post(rest, room, tokens["alice"], "@bob draft")
    notify()
    assert len(bob.frames("mention")) == 1  # the first version's
    sockets.clear()
    # When alice edits it to name carol instead of bob
    path = f"/rooms/{room['room_id']}/messages/{message['message_id']}"
    edited = rest.call("PATCH", path, body={"content": "@carol final"}, token=tokens["alice"])
    assert edited.status == 200 and edited.body["mentions"] == ["carol"]
    assert notify() == []
    # Then carol gets the frame, bob nothing more; the inboxes and counts follow
    assert [f["content"] for f in carol.frames("mention")] == ["@carol final"]
    assert bob.frames("mention") == []
    assert _inbox(rest, tokens["bob"])["mentions"] == []
    assert [m["content"] for m in _inbox(rest, tokens["carol"])["mentions"]] == ["@carol final"]
    assert _summary(rest, room["room_id"], tokens["bob"])["mention_count"] == 0
    assert _summary(rest, room["room_id"], tokens["carol"])["mention_count"] == 1
    # An edit that keeps carol frames nobody again
    sockets.clear()
    rest.call("PATCH", path, body={"content": "@carol final, really"}, token=tokens["alice"])
    notify()
    assert carol.frames("mention") == []


def test_a_deleted_message_mentions_nobody(rest, team, connect, notify):
    room, tokens = team
    message = _post(rest, room, tokens["alice"], "@bob secret")
    path = f"/rooms/{room['room_id']}/messages/{message['message_id']}"
    assert rest.delete(path, token=tokens["alice"]).status == 204
    bob = connect(tokens["bob"])
    assert notify() == []  # the job finds it deleted: nobody hears of it
    assert bob.frames("mention") == []
    history = rest.get(f"/rooms/{room['room_id']}/messages", token=tokens["bob"]).body
    assert history["messages"][-1]["mentions"] == []
    assert _inbox(rest, tokens["bob"])["mentions"] == []
    assert _summary(rest, room["room_id"], tokens["bob"])["mention_count"] == 0


# ------------------------------------------------------------------------------ the hot path
@pytest.fixture
def dynamodb_calls(stack, monkeypatch):
    """DynamoDB calls by operation from now on. The calls counted are those of a store that
    was not retried: a store slowed down (by a loaded machine) reads the subscribers once
    more (chat.logic.conversation.messages.SLOW_STORE_SECONDS; tests/integration/test_faults.py
    shows it), so the time that stands for "retried" is out of reach."""
    monkeypatch.setattr(messages, "SLOW_STORE_SECONDS", 3600.0)
    calls: Counter[str] = Counter()

    def record(model: Any, **_: Any) -> None:
        calls[model.name] += 1

    events = aws.dynamodb_resource().meta.client.meta.events
    events.register("before-call.dynamodb", record, unique_id="test-mentions-calls")
    yield calls
    events.unregister("before-call.dynamodb", unique_id="test-mentions-calls")


def test_a_mention_costs_two_batch_reads_and_nothing_else_on_the_hot_path(
    rest, team, connect, dynamodb_calls
):
    room, tokens = team
    alice: WebSocketClient = connect(tokens["alice"])
    alice.send({"type": "join", "room_id": room["room_id"]})
    dynamodb_calls.clear()
    alice.send({"type": "message", "room_id": room["room_id"], "content": "no names"})
    plain = Counter(dynamodb_calls)
    dynamodb_calls.clear()
    alice.send({"type": "message", "room_id": room["room_id"], "content": "hi @bob @carol @nobody"})
    named = Counter(dynamodb_calls)
    dynamodb_calls.clear()
    alice.send({"type": "message", "room_id": room["room_id"], "content": "@bob are you there?"})
    leading = Counter(dynamodb_calls)
    assert plain == Counter({"TransactWriteItems": 1, "Query": 1, "UpdateItem": 1})
    assert named == plain + Counter({"BatchGetItem": 2})  # the names' users, their memberships
    # A message that starts with `@name` could address one of the room's named bots: the
    # room is read once to know
    assert leading == named + Counter({"GetItem": 1})
    assert [f["mentions"] for f in alice.frames("message")] == [[], ["bob", "carol"], ["bob"]]
