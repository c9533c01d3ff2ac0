"""Closing an account (docs/API.md, Accounts: `DELETE /auth/me`): every room left as leaving
does, every token revoked, the username taken for good; with `erase_messages` every message
tombstoned by the eraser, resumable and idempotent (docs/accounts.md)."""

from __future__ import annotations

from typing import Any

import boto3
import jwt
import pytest
from aws_lambda_powertools.utilities.batch.exceptions import BatchProcessingError

from chat.adapters import erasure_queue
from chat.dal import messages as message_table
from chat.dal import rooms as room_table
from chat.logic.accounts import erasure
from chat.logic.conversation import edits
from local.events import sqs_event
from tests.support.clients import WebSocketClient, handler_of
from tests.support.events import LambdaContext

PASSWORD = "correct horse battery"


@pytest.fixture(autouse=True)
def _jobs_start_at_once(monkeypatch):
    # A closing request delays its job a few seconds (it leaves the rooms itself first).
    monkeypatch.setattr(erasure_queue, "START_DELAY_SECONDS", 0)


def _user_id(token: str) -> str:
    return jwt.decode(token, options={"verify_signature": False})["sub"]


def _close(rest, token: str, password: str = PASSWORD, erase: bool | None = None):
    body: dict[str, Any] = {"password": password}
    if erase is not None:
        body["erase_messages"] = erase
    return rest.delete("/auth/me", body=body, token=token)


def _jobs(stack) -> list[dict[str, Any]]:
    """Every erasure job visible on the queue now (received: invisible until deleted)."""
    sqs = boto3.client("sqs")
    found: list[dict[str, Any]] = []
    while batch := sqs.receive_message(
        QueueUrl=stack["erasure_queue_url"], MaxNumberOfMessages=10
    ).get("Messages", []):
        found += batch
    return found


def _run_eraser(stack, jobs: list[dict[str, Any]], timeout_ms: int = 300_000) -> list[str]:
    """The eraser on these jobs, as Lambda's event source runs it: a job that succeeded is
    deleted; the ids of those that failed are returned (they come back: at once here, not
    after the visibility timeout)."""
    sqs = boto3.client("sqs")
    url = stack["erasure_queue_url"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    try:
        response = handler_of("AccountEraserFunction")(
            sqs_event(jobs, arn), LambdaContext("AccountEraserFunction", timeout_ms)
        )
    except BatchProcessingError:  # every record failed: the invocation fails
        response = {"batchItemFailures": [{"itemIdentifier": job["MessageId"]} for job in jobs]}
    failed = [f["itemIdentifier"] for f in response["batchItemFailures"]]
    for job in jobs:
        if job["MessageId"] in failed:
            sqs.change_message_visibility(
                QueueUrl=url, ReceiptHandle=job["ReceiptHandle"], VisibilityTimeout=0
            )
        else:
            sqs.delete_message(QueueUrl=url, ReceiptHandle=job["ReceiptHandle"])
    return failed


def _erase_until_done(stack) -> int:
    """Run the eraser on whatever is queued until nothing is; how many runs it took."""
    runs = 0
    while jobs := _jobs(stack):
        assert _run_eraser(stack, jobs) == []
        runs += 1
    return runs


def _post(rest, room_id: str, token: str, content: str) -> dict[str, Any]:
    result = rest.post(f"/rooms/{room_id}/messages", {"content": content}, token=token)
    assert result.status == 201, result.body
    return result.body


def _members(rest, room_id: str, token: str) -> dict[str, str]:
    result = rest.get(f"/rooms/{room_id}/members", token=token)
    assert result.status == 200, result.body
    return {m["username"]: m["role"] for m in result.body["members"]}


# ------------------------------------------------------------------------------ closing
def test_closing_leaves_every_room_as_leaving_does_and_revokes_every_token(
    rest, register, room_with, connect, sockets, stack
):
    # Given alice owns a room bob then carol joined, is a member of dave's room, shares a
    # direct room with erin, wrote in them, and has a socket open in her room
    room, tokens = room_with("alice", "bob", "carol")
    alice, bob = tokens["alice"], tokens["bob"]
    dave, erin = register("dave"), register("erin")
    other = rest.post("/rooms", {"name": "dave's"}, token=dave).body
    assert rest.post("/rooms/join", {"code": other["code"]}, token=alice).status == 200
    direct = rest.post("/rooms", {"name": "dm", "is_group": False}, token=erin).body
    assert rest.post("/rooms/join", {"code": direct["code"]}, token=alice).status == 200
    said = _post(rest, room["room_id"], alice, "hello from alice")
    assert (
        rest.put(
            f"/rooms/{room['room_id']}/read", {"message_id": said["message_id"]}, token=alice
        ).status
        == 200
    )
    socket = connect(alice)
    socket.send({"type": "join", "room_id": room["room_id"]})
    watcher = connect(bob)
    watcher.send({"type": "join", "room_id": room["room_id"]})
    # When she closes her account
    result = _close(rest, alice)
    # Then it is closed: her token no longer works anywhere, her socket was told and closed
    assert result.status == 204 and result.body is None
    assert rest.get("/auth/me", token=alice).status == 401
    assert WebSocketClient(sockets, alice).connect() == 401
    assert [f["code"] for f in socket.frames("error")] == ["unauthorized"]
    assert socket.connection_id in sockets.closed
    # and she left every room: bob, who joined first, owns hers, and the room heard it
    assert _members(rest, room["room_id"], bob) == {"bob": "owner", "carol": "member", "bot": "bot"}
    assert {"type": "room_updated", "room_id": room["room_id"], "owner": "bob"} in watcher.frames(
        "room_updated"
    )
    assert "alice" not in _members(rest, other["room_id"], dave)
    assert "alice" not in _members(rest, direct["room_id"], erin)
    # her read state went with her memberships
    user_id = _user_id(alice)
    assert room_table.room_ids_of_user(user_id) == []
    assert room_table.get_membership(room["room_id"], user_id) is None
    # and her messages stay in history under her name
    history = rest.get(f"/rooms/{room['room_id']}/messages", token=bob).body["messages"]
    assert [(m["username"], m["content"], m["deleted"]) for m in history] == [
        ("alice", "hello from alice", False)
    ]


def test_the_username_is_never_free_again_and_nobody_logs_in_as_it(rest, register):
    token = register("alice", email="alice@example.com")
    assert _close(rest, token).status == 204
    for name in ("alice", "ALICE"):
        result = rest.post("/auth/register", {"username": name, "password": "another one!"})
        assert result.status == 409 and result.error_code == "conflict", name
    login = rest.post("/auth/login", {"username": "alice", "password": PASSWORD})
    assert login.status == 401
    # nobody can invite her; her email address is free for a new account
    bob = register("bob")
    room = rest.post("/rooms", {"name": "r"}, token=bob).body
    assert (
        rest.post(f"/rooms/{room['room_id']}/invite", {"username": "alice"}, token=bob).status
        == 404
    )
    assert register("alice2", email="alice@example.com")


def test_closing_needs_the_password_and_a_wrong_one_is_a_failed_login(rest, register, monkeypatch):
    from chat.config import settings

    monkeypatch.setenv("LOGIN_FAILURES_PER_USERNAME", "2")
    settings.cache_clear()
    token = register("alice")
    # A stolen token without the password closes nothing: 401, counted as failed logins
    for _ in range(2):
        result = _close(rest, token, password="guessing wrong")
        assert result.status == 401 and result.error_code == "unauthorized"
    assert _close(rest, token).status == 429  # then throttled, as logins are
    assert rest.get("/auth/me", token=token).status == 200  # and nothing happened
    assert _close(rest, token, password="").status == 422
    monkeypatch.delenv("LOGIN_FAILURES_PER_USERNAME")
    settings.cache_clear()


def test_a_closed_accounts_job_without_erasure_leaves_what_the_request_did_not(
    rest, room_with, stack, monkeypatch
):
    # Given the closing request could not leave one of alice's rooms (it failed there)
    room, tokens = room_with("alice", "bob")
    from chat.logic.rooms import membership

    real = membership.leave_room
    monkeypatch.setattr(
        membership, "leave_room", lambda *a: (_ for _ in ()).throw(membership.Conflict("busy"))
    )
    assert _close(rest, tokens["alice"], erase=False).status == 204
    assert "alice" in _members(rest, room["room_id"], tokens["bob"])
    # When its job runs
    monkeypatch.setattr(membership, "leave_room", real)
    assert _erase_until_done(stack) == 1
    # Then she has left it (bob owns it now), and her message is still there
    assert _members(rest, room["room_id"], tokens["bob"]) == {"bob": "owner", "bot": "bot"}


# ------------------------------------------------------------------------------ erasure
def _writer_in_rooms(rest, register, rooms: int) -> tuple[str, str, list[str], list[str]]:
    """alice wrote twice in each of `rooms` rooms of bob's, who wrote once in each."""
    alice, bob = register("alice"), register("bob")
    room_ids, hers = [], []
    for index in range(rooms):
        room = rest.post("/rooms", {"name": f"room {index}"}, token=bob).body
        assert rest.post("/rooms/join", {"code": room["code"]}, token=alice).status == 200
        hers.append(_post(rest, room["room_id"], alice, f"first {index}")["message_id"])
        _post(rest, room["room_id"], bob, f"bob {index}")
        hers.append(_post(rest, room["room_id"], alice, f"@bot second {index}")["message_id"])
        room_ids.append(room["room_id"])
    return alice, bob, room_ids, hers


def _states(room_ids: list[str]) -> dict[str, tuple[str, str, bool]]:
    found = {}
    for room_id in room_ids:
        items, _ = message_table.page(room_id, 100, None)
        for item in items:
            if not item.get("is_bot"):
                found[item["message_id"]] = (
                    item["username"],
                    item["content"],
                    bool(item.get("deleted")),
                )
    return found


def test_erasure_of_a_writer_in_30_rooms_completes_and_survives_a_retry_midway(
    rest, register, stack, monkeypatch, connect, sockets
):
    monkeypatch.setenv("ROOM_CREATIONS_PER_USER_PER_HOUR", "100")
    monkeypatch.setenv("BOT_USER_TOTAL_COMMANDS_PER_MINUTE", "100")
    from chat.config import settings

    settings.cache_clear()
    # Given alice wrote 60 messages in 30 rooms, and bob watches one of them
    alice, bob, room_ids, hers = _writer_in_rooms(rest, register, 30)
    watcher = connect(bob)
    watcher.send({"type": "join", "room_id": room_ids[0]})
    # When she closes her account asking for her messages to be erased
    assert _close(rest, alice, erase=True).status == 204
    # and the eraser reads 7 messages a page and dies in the middle of its third page
    monkeypatch.setattr(erasure, "PAGE", 7)
    real_erase, calls = edits.erase_message, []

    def dying(room_id: str, message_id: str) -> bool:
        calls.append(message_id)
        if len(calls) == 18:
            raise RuntimeError("the invocation died")
        return real_erase(room_id, message_id)

    monkeypatch.setattr(erasure, "erase_message", dying)
    jobs = _jobs(stack)
    assert len(jobs) == 1
    assert _run_eraser(stack, jobs) == [jobs[0]["MessageId"]]  # failed: SQS brings it back
    erased_before = sum(1 for _, _, deleted in _states(room_ids).values() if deleted)
    assert 14 <= erased_before < 60
    # Then the job received again finishes the work, in runs cut short by time
    monkeypatch.setattr(erasure, "erase_message", real_erase)
    monkeypatch.setattr("chat.transport.erasure.MARGIN_SECONDS", 299.5)  # ~a page a run
    runs = _erase_until_done(stack)
    assert runs > 1  # it continued itself
    states = _states(room_ids)
    assert {states[m] for m in hers} == {("alice", "", True)}  # every one of hers, tombstoned
    assert all(not deleted for name, _, deleted in states.values() if name == "bob")
    # the room watched heard each of hers in it deleted, once
    deleted = [f["message_id"] for f in watcher.frames("message_deleted")]
    assert sorted(deleted) == sorted(hers[:2])
    # And it is idempotent: the same job again changes nothing and tells nobody
    erasure_queue.enqueue(erasure_queue.ErasureJob(_user_id(alice), "alice", erase_messages=True))
    assert _erase_until_done(stack) >= 1
    assert _states(room_ids) == states
    assert len(watcher.frames("message_deleted")) == 2
    settings.cache_clear()


def test_a_job_for_an_open_account_does_nothing(rest, register, room_with, stack):
    room, tokens = room_with("alice", "bob")
    said = _post(rest, room["room_id"], tokens["alice"], "still here")
    job = erasure_queue.ErasureJob(_user_id(tokens["alice"]), "alice", erase_messages=True)
    erasure_queue.enqueue(job)
    assert _erase_until_done(stack) == 1
    assert "alice" in _members(rest, room["room_id"], tokens["bob"])
    stored = message_table.get_message(room["room_id"], said["message_id"])
    assert stored is not None and not stored.get("deleted")


def test_the_bots_and_other_peoples_messages_are_not_in_the_authors_index(rest, room_with):
    room, tokens = room_with("alice", "bob")
    mine = _post(rest, room["room_id"], tokens["alice"], "mine")
    _post(rest, room["room_id"], tokens["bob"], "his")
    keys, cursor = message_table.by_author(_user_id(tokens["alice"]), None, 10)
    assert keys == [(room["room_id"], mine["message_id"])] and cursor is None


def test_an_erased_messages_files_go_with_it(rest, room_with, stack):
    from tests.integration.test_attachments import post, stored_keys, stored_records, uploaded

    room, tokens = room_with("alice", "bob")
    image = uploaded(rest, room, tokens["alice"])
    message = post(rest, room, tokens["alice"], "my photo", attachments=[image]).body
    assert stored_keys() and stored_records()
    assert _close(rest, tokens["alice"], erase=True).status == 204
    assert _erase_until_done(stack) == 1
    stored = message_table.get_message(room["room_id"], message["message_id"])
    assert stored is not None and stored.get("deleted") and stored.get("attachments") == []
    assert stored_keys() == [] and stored_records() == []
