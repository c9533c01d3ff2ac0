"""Mentions and Web Push through the local stack, as deployed: messages go through the
notifications queue to the notifier function (the local SQS event source), which pushes to a
push service played by the test on 127.0.0.1 (tests.support.push_service): each payload is
decrypted with the browser's private key and its VAPID signature checked against
`GET /push/key`."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from tests.e2e.conftest import LocalStackProcess, Rest, Socket, unique
from tests.support.push_service import Browser, Push, PushService

PASSWORD = "correct horse battery"
WITHIN = 10  # seconds: the contract's promise for a push to an offline member


@pytest.fixture(scope="module")
def rest(stack: LocalStackProcess) -> Rest:
    return Rest(stack.urls["rest"])


@pytest.fixture(scope="module")
def push_service() -> Iterator[PushService]:
    service = PushService()
    yield service
    service.close()


@pytest.fixture
def user(rest: Rest) -> Callable[[str], tuple[str, str]]:
    def _user(prefix: str) -> tuple[str, str]:
        username = unique(prefix)
        response = rest.post("/auth/register", {"username": username, "password": PASSWORD})
        assert response.status_code == 201, response.text
        return username, response.json()["access_token"]

    return _user


def _room(rest: Rest, owner: str, *members: str, is_group: bool = True) -> dict[str, Any]:
    room = rest.post("/rooms", {"name": unique("room"), "is_group": is_group}, token=owner).json()
    for token in members:
        assert rest.post("/rooms/join", {"code": room["code"]}, token=token).status_code == 200
    return room


def _subscribe(rest: Rest, push_service: PushService, token: str, name: str) -> Browser:
    browser = push_service.subscribe(name)
    response = rest.post("/push/subscriptions", browser.subscription(), token=token)
    assert response.status_code == 201, response.text
    return browser


def _post(rest: Rest, token: str, room_id: str, content: str) -> dict[str, Any]:
    response = rest.post(f"/rooms/{room_id}/messages", {"content": content}, token=token)
    assert response.status_code == 201, response.text
    return response.json()


def _pushes(push_service: PushService, browser: Browser, count: int, within: float) -> list[Push]:
    pushes = push_service.wait_for(browser, count, within)
    assert len(pushes) >= count, f"{len(pushes)} of {count} pushes within {within} s"
    for push in pushes:
        assert push.error is None, push.error
    return pushes


def test_an_offline_member_gets_a_real_web_push_within_10_seconds(rest, user, push_service):
    # Given a direct room (every message notifies), bob offline with a subscribed browser
    alice, alice_token = user("alice")
    _, bob_token = user("bob")
    room = _room(rest, alice_token, bob_token, is_group=False)
    browser = _subscribe(rest, push_service, bob_token, "bob")
    key = rest.get("/push/key", token=bob_token).json()["public_key"]
    # When alice writes
    sent = time.monotonic()
    message = _post(rest, alice_token, room["room_id"], "are you coming?")
    # Then bob's browser decrypts a push signed with the deployment's key, within 10 s
    (push,) = _pushes(push_service, browser, 1, WITHIN)
    assert time.monotonic() - sent < WITHIN
    assert push.vapid_key == key
    assert push.headers["ttl"] == "86400"
    assert push.payload == {
        "type": "message",
        "room_id": room["room_id"],
        "room_name": room["name"],
        "message_id": message["message_id"],
        "from": alice,
        "preview": "are you coming?",
    }


def test_mentions_frame_the_online_and_push_the_offline(rest, user, push_service, stack):
    # Given a group room: carol connected (in no room), dave offline, both subscribed
    alice, alice_token = user("alice")
    carol, carol_token = user("carol")
    dave, dave_token = user("dave")
    room = _room(rest, alice_token, carol_token, dave_token)
    carol_browser = _subscribe(rest, push_service, carol_token, "carol")
    dave_browser = _subscribe(rest, push_service, dave_token, "dave")
    socket = Socket(f"{stack.urls['ws']}?token={carol_token}")
    try:
        # When alice mentions both
        message = _post(rest, alice_token, room["room_id"], f"@{carol} @{dave} standup?")
        assert message["mentions"] == [carol, dave]
        # Then carol gets the mention frame, dave a push of type mention
        frame = socket.wait_for_type("mention", timeout=WITHIN)
        assert frame == {
            "type": "mention",
            "room_id": room["room_id"],
            "message_id": message["message_id"],
            "username": alice,
            "content": f"@{carol} @{dave} standup?",
        }
        (push,) = _pushes(push_service, dave_browser, 1, WITHIN)
        assert push.payload is not None and push.payload["type"] == "mention"
        assert push_service.received(carol_browser) == []  # online: no push
    finally:
        socket.close()
    listed = rest.get("/mentions", token=dave_token).json()
    assert [m["message_id"] for m in listed["mentions"]] == [message["message_id"]]
    rooms = rest.get("/rooms", token=dave_token).json()["rooms"]
    assert [(r["mention_count"], r["notifications"]) for r in rooms] == [(1, "mentions")]


def test_a_gone_subscription_is_removed_and_levels_are_honoured(rest, user, push_service):
    # Given a group room: erin `all` with a browser that is gone (410) and one that works,
    # frank at the default level (mentions)
    _, alice_token = user("alice")
    _, erin_token = user("erin")
    _, frank_token = user("frank")
    room = _room(rest, alice_token, erin_token, frank_token)
    level = rest.client.put(
        f"/rooms/{room['room_id']}/notifications",
        json={"level": "all"},
        headers={"Authorization": f"Bearer {erin_token}"},
    )
    assert level.status_code == 200 and level.json() == {"level": "all"}
    gone = _subscribe(rest, push_service, erin_token, "erin-old")
    working = _subscribe(rest, push_service, erin_token, "erin-new")
    frank = _subscribe(rest, push_service, frank_token, "frank")
    push_service.answer(gone, 410)
    # When alice writes twice (no mention)
    _post(rest, alice_token, room["room_id"], "first")
    _pushes(push_service, working, 1, WITHIN)
    _post(rest, alice_token, room["room_id"], "second")
    _pushes(push_service, working, 2, WITHIN)
    # Then the gone browser was tried once and then forgotten; frank heard of neither
    assert [p.status for p in push_service.received(gone)] == [410]
    assert push_service.received(frank) == []


def test_a_bot_answer_notifies_once_when_complete(rest, user, push_service):
    # Given a direct room of alice and bob, both offline and subscribed
    alice, alice_token = user("alice")
    _, bob_token = user("bob")
    room = _room(rest, alice_token, bob_token, is_group=False)
    alice_browser = _subscribe(rest, push_service, alice_token, "alice")
    bob_browser = _subscribe(rest, push_service, bob_token, "bob")
    # When alice asks the bot something that streams for a moment
    _post(rest, alice_token, room["room_id"], "@bot [fake:tokens=20,seconds=1] tell me")
    # Then each gets one push of the complete answer (bob also one of alice's command)
    (answer,) = _pushes(push_service, alice_browser, 1, 30)
    assert answer.payload is not None and answer.payload["from"] == "bot"
    pushes = _pushes(push_service, bob_browser, 2, 30)
    assert sorted(p.payload["from"] for p in pushes if p.payload) == sorted([alice, "bot"])
    history = rest.get(f"/rooms/{room['room_id']}/messages", token=alice_token).json()
    reply = history["messages"][-1]
    assert reply["status"] == "complete" and answer.payload["message_id"] == reply["message_id"]
    time.sleep(2)  # nothing more comes
    assert len(push_service.received(alice_browser)) == 1
