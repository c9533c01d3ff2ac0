"""Mentions and notifications in the web client, in headless Chromium against the local stack.

Chromium here cannot reach a real push service (no network), so the page's
`PushManager.subscribe` is replaced, before any script runs, by one that returns a
subscription of the test's push service on 127.0.0.1 (tests.support.push_service): the
server then really encrypts and signs a push to it, the test decrypts it, and hands the
payload to the real service worker with the DevTools protocol's
`ServiceWorker.deliverPushMessage`, as a browser's push service would."""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Iterator
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from tests.browser.conftest import PASSWORD, Person
from tests.browser.test_web_client import by_id, create_room, join_room, say
from tests.e2e.conftest import Rest, unique
from tests.support.push_service import Browser, PushService

# Counts permission requests, and subscribes to the test's push service instead of the
# browser's (which needs the network). `window.__pushSubscription` is the browser's
# PushSubscription JSON, set by the test.
PUSH_STAND_IN = """
(() => {
  window.__permissionRequests = 0;
  const request = Notification.requestPermission.bind(Notification);
  Notification.requestPermission = (...args) => {
    window.__permissionRequests += 1;
    return request(...args);
  };
  let subscribed = null;
  PushManager.prototype.getSubscription = async function () { return subscribed; };
  PushManager.prototype.subscribe = async function (options) {
    const json = window.__pushSubscription;
    subscribed = {
      endpoint: json.endpoint,
      options: { applicationServerKey: options.applicationServerKey.buffer ?? options.applicationServerKey },
      toJSON: () => json,
      unsubscribe: async () => { subscribed = null; return true; },
    };
    window.__subscribedWith = Array.from(new Uint8Array(subscribed.options.applicationServerKey));
    return subscribed;
  };
})();
"""


@pytest.fixture(scope="module")
def push_service() -> Iterator[PushService]:
    service = PushService()
    yield service
    service.close()


def _service_worker(page: Page) -> str:
    return page.evaluate("navigator.serviceWorker.ready.then((r) => r.active.scriptURL)")


def _deliver_push(page: Page, payload: dict[str, Any]) -> list[dict[str, Any]]:
    """Hand a decrypted payload to the page's service worker, as the push service would;
    the notifications it then shows."""
    cdp = page.context.new_cdp_session(page)
    registrations: list[dict[str, Any]] = []
    cdp.on(
        "ServiceWorker.workerRegistrationUpdated",
        lambda e: registrations.extend(e["registrations"]),
    )
    cdp.send("ServiceWorker.enable")
    page.wait_for_timeout(300)
    origin = page.evaluate("location.origin")
    live = {
        r["registrationId"]
        for r in registrations
        if r["scopeURL"].startswith(origin) and not r["isDeleted"]
    }
    (registration_id,) = live
    cdp.send(
        "ServiceWorker.deliverPushMessage",
        {
            "origin": origin,
            "registrationId": registration_id,
            "data": json.dumps(payload),
        },
    )
    page.wait_for_function(
        "navigator.serviceWorker.ready.then((r) => r.getNotifications()).then((n) => n.length > 0)"
    )
    return page.evaluate(
        """navigator.serviceWorker.ready
            .then((r) => r.getNotifications())
            .then((n) => n.map((x) => ({ title: x.title, body: x.body, tag: x.tag, data: x.data })))"""
    )


def test_the_service_worker_shows_pushes_and_permission_is_asked_only_on_request(
    people, push_service: PushService
) -> None:
    # Given alice in the browser (the push stand-in installed), and bob, in a direct room
    alice: Person = people("alice")
    alice.context.add_init_script(PUSH_STAND_IN)
    browser_of_alice: Browser = push_service.subscribe("alice")
    rest = Rest(alice.stack.urls["rest"])
    alice_token = alice.register_by_api()
    bob_name = unique("bob")
    bob = rest.post("/auth/register", {"username": bob_name, "password": PASSWORD}).json()[
        "access_token"
    ]
    page = alice.sign_in()
    page.evaluate(
        "(json) => { window.__pushSubscription = json; }", browser_of_alice.subscription()
    )
    # Then the service worker is registered, and nobody asked for the permission yet
    assert _service_worker(page).endswith("/sw.js")
    button = page.locator("#enable-notifications")
    expect(button).to_be_visible()
    assert page.evaluate("[Notification.permission, window.__permissionRequests]") == ["default", 0]
    # When she asks for notifications (and allows them)
    alice.context.grant_permissions(["notifications"], origin=page.evaluate("location.origin"))
    button.click()
    expect(page.locator("#notifications-state")).to_have_text("Notifications on")
    assert page.evaluate("window.__permissionRequests") == 1
    # the subscription was made with the deployment's key
    key = rest.get("/push/key", token=bob).json()["public_key"]
    subscribed_with = bytes(page.evaluate("window.__subscribedWith"))
    assert subscribed_with == _b64url_decode(key)
    # When she is offline (her page closed) and bob writes in their direct room
    room = rest.post("/rooms", {"name": unique("dm"), "is_group": False}, token=bob).json()
    assert rest.post("/rooms/join", {"code": room["code"]}, token=alice_token).status_code == 200
    page.goto("about:blank")  # her socket closes; the service worker stays
    sent = rest.post(f"/rooms/{room['room_id']}/messages", {"content": "call me"}, token=bob).json()
    # Then the server's push reaches her push service, signed and encrypted for her browser
    (push,) = push_service.wait_for(browser_of_alice, 1, timeout=20)
    assert push.error is None, push.error
    assert push.vapid_key == key
    assert push.payload is not None and push.payload["message_id"] == sent["message_id"]
    # and her service worker shows it: room name, author and preview
    page = alice.open()
    (shown,) = _deliver_push(page, push.payload)
    assert shown["title"] == room["name"]
    assert shown["body"] == f"{bob_name}: call me"
    assert shown["data"]["message_id"] == sent["message_id"]
    # A click on it opens the room at the message (the worker posts it to the open page;
    # the tab kept her session)
    expect(page.locator("#me")).to_have_text(alice.username)
    page.evaluate(
        """(data) => navigator.serviceWorker.dispatchEvent(
             new MessageEvent("message", { data: { type: "open", ...data } }))""",
        {"room_id": room["room_id"], "message_id": sent["message_id"]},
    )
    expect(page.locator("#room-name")).to_have_text(room["name"])
    expect(by_id(page, sent["message_id"])).to_be_visible()


def test_mentions_badge_highlight_level_and_completion(people) -> None:
    # Given alice and bob in a group room, alice looking at another room
    alice, bob = people("alice"), people("bob")
    alice.register_by_api()
    bob.register_by_api()
    a, b = alice.sign_in(), bob.sign_in()
    room_name = unique("team")
    code = create_room(a, room_name)
    join_room(b, code, room_name)
    create_room(a, unique("elsewhere"))
    # When bob mentions alice
    say(b, f"@{alice.username} can you review?")
    # Then alice's room list shows a mention badge on that room
    team = a.locator("#room-list button.room", has_text=room_name)
    expect(team.locator(".badge.mention")).to_have_text("@1")
    # and opening it shows the message marked as mentioning her, and the badge goes
    team.click()
    mention = a.locator("#messages article.msg.mentions-me")
    expect(mention).to_have_count(1)
    expect(mention).to_contain_text("can you review?")
    expect(team.locator(".badge.mention")).to_have_count(0)
    # Her level for the room: the group default, changed in the room's header
    level = a.locator("#level-select")
    expect(level).to_have_value("mentions")
    level.select_option("all")
    members = re.compile(r"/rooms/[^/]+/members$")
    held: list = []  # the room's members load after it opens: here, once the test says so
    a.route(members, lambda route: held.append(route))
    a.reload()
    a.locator("#room-list button.room", has_text=room_name).click()
    expect(a.locator("#level-select")).to_have_value("all")
    # `@` completes the room's members in the composer, also when they arrive after the
    # name was begun
    box = a.locator("#composer-input")
    box.fill("")
    box.type(f"hi @{bob.username[:4]}")
    for _ in range(400):  # up to 20 s
        if held:
            break
        a.wait_for_timeout(50)
    assert held, "the room's members were never asked for"
    expect(a.locator("#mention-completions")).to_be_hidden()
    held.pop().continue_()
    a.unroute(members)
    option = a.locator("#mention-completions li", has_text=bob.username)
    expect(option).to_be_visible()
    box.press("Enter")  # picks the name, does not send
    expect(box).to_have_value(f"hi @{bob.username} ")
    expect(a.locator("#mention-completions")).to_be_hidden()
    box.press("Enter")
    expect(box).to_have_value("")
    sent = b.locator("#messages article.msg.mentions-me", has_text=f"hi @{bob.username}")
    expect(sent).to_have_count(1)


def _b64url_decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
