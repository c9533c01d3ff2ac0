"""Web Push and notification levels on moto, with a real push service on 127.0.0.1 that
decrypts every payload with its browser's private key and checks the VAPID signature
(tests.support.push_service): the key, subscriptions, who gets a push and who does not,
404/410 and retries."""

from __future__ import annotations

import time
from typing import Any

import boto3
import pytest

from chat import aws
from chat.dal import notifications as notification_table
from chat.dal import users as user_table
from chat.logic.notifications import delivery
from tests.support.clients import RestClient
from tests.support.notifier import queued_jobs, run_notifier
from tests.support.push_service import Browser, PushService


@pytest.fixture
def push_service():
    service = PushService()
    yield service
    service.close()


@pytest.fixture
def notify(stack):
    return lambda: run_notifier(stack["notifications_queue_url"])


@pytest.fixture
def subscribed(rest: RestClient, push_service: PushService):
    """subscribed(token, name) -> a browser of the push service, subscribed for that user."""

    def _subscribed(token: str, name: str) -> Browser:
        browser = push_service.subscribe(name)
        result = rest.post("/push/subscriptions", browser.subscription(), token=token)
        assert result.status == 201, result.body
        return browser

    return _subscribed


@pytest.fixture
def direct(rest: RestClient, register):
    """direct("alice", "bob") -> (a direct room of theirs, {username: token})."""

    def _direct(*usernames: str) -> tuple[dict[str, Any], dict[str, str]]:
        tokens = {username: register(username) for username in usernames}
        body = {"name": "general", "is_group": False}
        room = rest.post("/rooms", body, token=tokens[usernames[0]]).body
        for username in usernames[1:]:
            joined = rest.post("/rooms/join", {"code": room["code"]}, token=tokens[username])
            assert joined.status == 200
        return room, tokens

    return _direct


def _post(rest: RestClient, room: dict[str, Any], token: str, content: str) -> dict[str, Any]:
    result = rest.post(f"/rooms/{room['room_id']}/messages", {"content": content}, token=token)
    assert result.status == 201, result.body
    return result.body


def _level(rest: RestClient, room_id: str, token: str, level: str) -> None:
    result = rest.put(f"/rooms/{room_id}/notifications", {"level": level}, token=token)
    assert (result.status, result.body) == (200, {"level": level})


# ------------------------------------------------------------------------------ the key
def test_the_push_key_is_the_deployments_p256_key_and_stays_the_same(rest, register):
    token = register("alice")
    first = rest.get("/push/key", token=token)
    assert first.status == 200 and set(first.body) == {"public_key"}
    assert rest.get("/push/key", token=register("bob")).body == first.body
    assert len(first.body["public_key"]) == 87  # 65 bytes in base64url, unpadded
    assert rest.get("/push/key").status == 401


# ------------------------------------------------------------------------------ subscriptions
def test_subscribing_twice_is_one_subscription_and_the_eleventh_drops_the_oldest(
    rest, register, push_service
):
    token = register("alice")
    browsers = [push_service.subscribe(f"b{i}") for i in range(11)]
    assert rest.post("/push/subscriptions", browsers[0].subscription(), token=token).status == 201
    again = rest.post("/push/subscriptions", browsers[0].subscription(), token=token)
    assert (again.status, again.body) == (200, {"endpoint": browsers[0].endpoint})
    for browser in browsers[1:]:
        assert rest.post("/push/subscriptions", browser.subscription(), token=token).status == 201
    from chat.dal import notifications as table
    from chat.logic.accounts.tokens import verify_token

    kept = {s["endpoint"] for s in table.subscriptions_of(verify_token(token).user_id)}
    assert kept == {browser.endpoint for browser in browsers[1:]}


@pytest.mark.parametrize(
    ("endpoint", "field"),
    [
        ("http://push.example.com/x", "endpoint"),  # not https
        ("https://10.0.0.1/x", "endpoint"),  # an address, not a push service's name
        ("https://user:pw@push.example.com/x", "endpoint"),
        ("https://push.example.com:8443/x", "endpoint"),
        ("http://127.0.0.2:9000/x", "endpoint"),  # only 127.0.0.1 locally
        ("not a url", "endpoint"),
    ],
)
def test_a_subscription_must_name_a_push_service(rest, register, endpoint, field):
    body = {"endpoint": endpoint, "keys": {"p256dh": "B" + "A" * 86, "auth": "A" * 22}}
    result = rest.post("/push/subscriptions", body, token=register("alice"))
    assert (result.status, result.error_code) == (422, "validation_error")
    assert [d["field"] for d in result.body["error"]["details"]] == [field]


def test_subscription_keys_must_be_a_p256_point_and_a_16_byte_secret(rest, register, push_service):
    good = push_service.subscribe("b").subscription()
    token = register("alice")
    for keys, field in (
        ({**good["keys"], "p256dh": "A" * 87}, "keys.p256dh"),  # 65 bytes, not a point
        ({**good["keys"], "auth": "A" * 20}, "keys.auth"),  # 15 bytes
    ):
        result = rest.post("/push/subscriptions", {**good, "keys": keys}, token=token)
        assert result.status == 422
        assert [d["field"] for d in result.body["error"]["details"]] == [field]
    missing = rest.post("/push/subscriptions", {"endpoint": good["endpoint"]}, token=token)
    assert missing.status == 422


def test_an_endpoint_subscribed_by_another_user_is_theirs_from_then_on(
    rest, room_with, push_service, notify
):
    room, tokens = room_with("alice", "bob", "carol")
    browser = push_service.subscribe("shared")
    rest.post("/push/subscriptions", browser.subscription(), token=tokens["bob"])
    rest.post("/push/subscriptions", browser.subscription(), token=tokens["carol"])
    _post(rest, room, tokens["alice"], "@bob only")
    assert notify() == []
    assert push_service.received(browser) == []  # bob's subscription of it went
    _post(rest, room, tokens["alice"], "@carol only")
    notify()
    assert [p["preview"] for p in push_service.delivered(browser)] == ["@carol only"]


def test_unsubscribing_stops_the_pushes(rest, direct, subscribed, push_service, notify):
    room, tokens = direct("alice", "bob")
    browser = subscribed(tokens["bob"], "bob")
    gone = rest.call(
        "DELETE", "/push/subscriptions", body={"endpoint": browser.endpoint}, token=tokens["bob"]
    )
    assert gone.status == 204
    again = rest.call(
        "DELETE", "/push/subscriptions", body={"endpoint": browser.endpoint}, token=tokens["bob"]
    )
    assert again.status == 204
    _post(rest, room, tokens["alice"], "hello?")
    notify()
    assert push_service.received(browser) == []


# ------------------------------------------------------------------------------ delivery
def test_an_offline_member_gets_an_encrypted_signed_push_an_online_one_none(
    rest, direct, subscribed, push_service, connect, notify
):
    # Given a direct room (level `all` by default): bob offline, carol's socket open
    room, tokens = direct("alice", "bob")
    bob = subscribed(tokens["bob"], "bob")
    key = rest.get("/push/key", token=tokens["bob"]).body["public_key"]
    message = _post(rest, room, tokens["alice"], "  lunch\n at one?  ")
    connect(tokens["alice"])
    # When the notifier runs
    assert notify() == []
    # Then bob's browser got one push: signed with the deployment's key, for a day, and
    # holding what the service worker shows
    (push,) = push_service.received(bob)
    assert push.error is None, push.error
    assert push.vapid_key == key
    assert push.claims is not None and push.claims["sub"].startswith(("mailto:", "https://"))
    assert push.headers["ttl"] == "86400"
    assert push.payload == {
        "type": "message",
        "room_id": room["room_id"],
        "room_name": "general",
        "message_id": message["message_id"],
        "from": "alice",
        "preview": "lunch at one?",
    }


def test_online_members_get_no_push(rest, direct, subscribed, push_service, connect, notify):
    room, tokens = direct("alice", "bob")
    bob = subscribed(tokens["bob"], "bob")
    connect(tokens["bob"])  # open, in no room: online all the same
    _post(rest, room, tokens["alice"], "you there?")
    notify()
    assert push_service.received(bob) == []


def test_levels_decide_who_hears_of_what(rest, room_with, subscribed, push_service, notify):
    # Given a group room: bob at the default (mentions), carol `all`, dave `none`
    room, tokens = room_with("alice", "bob", "carol", "dave")
    browsers = {name: subscribed(tokens[name], name) for name in ("bob", "carol", "dave")}
    _level(rest, room["room_id"], tokens["carol"], "all")
    _level(rest, room["room_id"], tokens["dave"], "none")
    summaries = {
        name: next(r for r in rest.get("/rooms", token=tokens[name]).body["rooms"])["notifications"]
        for name in ("bob", "carol", "dave")
    }
    assert summaries == {"bob": "mentions", "carol": "all", "dave": "none"}
    # When alice writes a plain message, then one naming bob and dave
    _post(rest, room, tokens["alice"], "plain")
    _post(rest, room, tokens["alice"], "@bob @dave look")
    notify()
    # Then
    got = {name: [p["type"] for p in push_service.delivered(b)] for name, b in browsers.items()}
    assert got == {"bob": ["mention"], "carol": ["message", "message"], "dave": []}


def test_a_level_is_one_of_three_and_for_members_only(rest, room_with, register):
    room, tokens = room_with("alice")
    path = f"/rooms/{room['room_id']}/notifications"
    assert rest.put(path, {"level": "loud"}, token=tokens["alice"]).status == 422
    assert rest.put(path, {"level": "all"}, token=register("eve")).status == 404
    dm = rest.post("/rooms", {"name": "dm", "is_group": False}, token=tokens["alice"]).body
    listed = {
        r["room_id"]: r["notifications"]
        for r in rest.get("/rooms", token=tokens["alice"]).body["rooms"]
    }
    assert listed == {room["room_id"]: "mentions", dm["room_id"]: "all"}


def test_a_gone_subscription_is_removed(rest, direct, subscribed, push_service, notify):
    room, tokens = direct("alice", "bob")
    bob = subscribed(tokens["bob"], "bob")
    push_service.answer(bob, 410)
    _post(rest, room, tokens["alice"], "one")
    notify()
    _post(rest, room, tokens["alice"], "two")
    notify()
    assert [p.status for p in push_service.received(bob)] == [410]  # not tried again


def test_a_failing_push_service_is_retried_with_backoff(
    rest, direct, subscribed, push_service, notify, stack, monkeypatch
):
    # Given bob's push service failing twice (503, 429), then taking pushes
    monkeypatch.setattr(delivery, "RETRY_DELAYS", (0, 0, 0, 0))
    room, tokens = direct("alice", "bob")
    bob = subscribed(tokens["bob"], "bob")
    push_service.answer(bob, 503, 429, 201)
    _post(rest, room, tokens["alice"], "persistent")
    # When the notifier runs, and runs the retries it queued (the 429's after its
    # Retry-After second)
    deadline = time.monotonic() + 10
    while len(push_service.received(bob)) < 3 and time.monotonic() < deadline:
        notify()
        time.sleep(0.2)
    # Then the third attempt delivered it, once
    assert [p.status for p in push_service.received(bob)] == [503, 429, 201]
    assert [p["preview"] for p in push_service.delivered(bob)] == ["persistent"]
    assert queued_jobs(stack["notifications_queue_url"]) == []


def test_a_retry_waits_in_the_queue(rest, direct, subscribed, push_service, notify, stack):
    room, tokens = direct("alice", "bob")
    bob = subscribed(tokens["bob"], "bob")
    push_service.answer(bob, 500, 201)
    _post(rest, room, tokens["alice"], "later")
    notify()
    sqs = boto3.client("sqs")
    attributes = sqs.get_queue_attributes(
        QueueUrl=stack["notifications_queue_url"],
        AttributeNames=["ApproximateNumberOfMessagesDelayed"],
    )["Attributes"]
    assert attributes["ApproximateNumberOfMessagesDelayed"] == "1"  # not before RETRY_DELAYS[0]
    assert queued_jobs(stack["notifications_queue_url"]) == []


def test_a_bot_answer_notifies_the_all_level_once_when_complete(
    rest, direct, subscribed, push_service, notify, stack, gemini
):
    from tests.integration.test_bot_worker import invoke, receive_all

    room, tokens = direct("alice", "bob")
    alice, bob = subscribed(tokens["alice"], "alice"), subscribed(tokens["bob"], "bob")
    rest.put(
        f"/rooms/{room['room_id']}/bot",
        {"gemini_api_key": "AIzaFAKE-test-key-0123456789"},
        token=tokens["alice"],
    )
    command = _post(rest, room, tokens["alice"], "@bot say hi")
    notify()  # the command: bob hears of it, alice (its author) not
    assert [p["from"] for p in push_service.delivered(bob)] == ["alice"]
    invoke(stack, receive_all(stack))  # the worker answers
    notify()
    answers = [p for p in push_service.delivered(alice) if p["from"] == "bot"]
    assert len(answers) == 1 and answers[0]["type"] == "message"
    assert [p["from"] for p in push_service.delivered(bob)] == ["alice", "bot"]
    history = rest.get(f"/rooms/{room['room_id']}/messages", token=tokens["alice"]).body
    (reply,) = [m for m in history["messages"] if m["reply_to"] == command["message_id"]]
    assert answers[0]["message_id"] == reply["message_id"]
    assert answers[0]["preview"] == " ".join(reply["content"].split())[:120]


def test_no_job_is_lost_when_the_notifier_fails_it_is_retried(
    rest, direct, subscribed, push_service, notify, monkeypatch
):
    from chat.logic.notifications import notifier

    room, tokens = direct("alice", "bob")
    bob = subscribed(tokens["bob"], "bob")
    _post(rest, room, tokens["alice"], "eventually")
    real = notifier.audience.recipients

    def broken(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("DynamoDB is down")

    monkeypatch.setattr(notifier.audience, "recipients", broken)
    assert len(notify()) == 1  # the record failed: SQS keeps it
    monkeypatch.setattr(notifier.audience, "recipients", real)
    assert notify() == []
    assert [p["preview"] for p in push_service.delivered(bob)] == ["eventually"]


def test_a_group_rooms_notifier_reads_only_who_may_hear_not_every_member(
    rest, room_with, register, subscribed, push_service, notify, stack
):
    # Given a group room of 12: carol chose `all`, then erin chose `all` and left
    names = ["alice", "bob", "carol", "dave", "erin", *(f"member{i}" for i in range(7))]
    room, tokens = room_with(*names)
    browsers = {name: subscribed(tokens[name], name) for name in ("bob", "carol", "erin")}
    _level(rest, room["room_id"], tokens["carol"], "all")
    _level(rest, room["room_id"], tokens["erin"], "all")
    assert rest.delete(f"/rooms/{room['room_id']}/members/me", token=tokens["erin"]).status == 204
    _post(rest, room, tokens["alice"], "@bob ping")
    # When the notifier runs, its DynamoDB reads recorded
    calls: list[tuple[str, str]] = []

    def record(model: Any, params: dict[str, Any], **_: Any) -> None:
        tables = params.get("RequestItems") or {params.get("TableName"): None}
        calls.extend((model.name, str(table)) for table in tables)

    events = aws.dynamodb_resource().meta.client.meta.events
    events.register("before-parameter-build.dynamodb", record, unique_id="notifier-reads")
    try:
        assert notify() == []
    finally:
        events.unregister("before-parameter-build.dynamodb", unique_id="notifier-reads")
    # Then bob (mentioned) and carol (all) got it, erin (gone) not; and no Query read the
    # room's memberships: the `all` set and one BatchGetItem of the candidates' memberships
    got = {name: len(push_service.delivered(browser)) for name, browser in browsers.items()}
    assert got == {"bob": 1, "carol": 1, "erin": 0}
    assert ("Query", "MembershipsTable") not in calls
    assert calls.count(("BatchGetItem", "MembershipsTable")) == 1


def test_closing_an_account_removes_its_subscriptions(rest, direct, subscribed):
    _, tokens = direct("alice", "bob")
    browser = subscribed(tokens["bob"], "bob")
    bob = user_table.get_by_username("bob")
    assert bob is not None and notification_table.subscriptions_of(bob["user_id"])
    closed = rest.delete(
        "/auth/me", body={"password": "correct horse battery"}, token=tokens["bob"]
    )
    assert closed.status == 204, closed.body
    assert notification_table.subscriptions_of(bob["user_id"]) == []
    assert (
        notification_table.endpoint_owner(notification_table.subscription_id(browser.endpoint))
        is None
    )
