"""The web client in headless Chromium against the local stack: two people chat with each
other and with the bot, see presence and typing, survive a reload and a dropped socket,
and nothing a message contains runs script."""

from __future__ import annotations

import re
import struct
import time
import zlib
from pathlib import Path

from playwright.sync_api import Page, expect

from tests.browser.conftest import DESKTOP, PHONE, Person
from tests.e2e.conftest import Rest

BOT_TIMEOUT_MS = 60_000  # the bot worker's first (cold) answer on a busy machine


def create_room(page: Page, name: str) -> str:
    page.fill("#create-name", name)
    page.get_by_role("button", name="Create", exact=True).click()
    expect(page.locator("#room-name")).to_have_text(name)
    return page.locator("#room-code").inner_text()


def join_room(page: Page, code: str, name: str) -> None:
    page.fill("#join-code", code)
    page.get_by_role("button", name="Join", exact=True).click()
    expect(page.locator("#room-name")).to_have_text(name)


def say(page: Page, text: str) -> None:
    box = page.locator("#composer-input")
    box.fill(text)
    box.press("Enter")
    expect(box).to_have_value("")


def messages(page: Page):
    return page.locator("#messages article.msg")


def by_id(page: Page, message_id: str | None):
    assert message_id and not message_id.startswith("pending:"), message_id
    return page.locator(f"#messages article.msg[data-id='{message_id}']")


def test_two_people_chat_with_each_other_and_with_the_bot(people, screenshots: Path) -> None:
    alice, bob = people("alice"), people("bob")
    bob.register_by_api()

    # Alice signs up through the form; Bob signs in; both end up in one room.
    page_a = alice.open()
    page_a.get_by_role("button", name="New here? Create an account").click()
    page_a.fill("#login-username", alice.username)
    page_a.fill("#login-password", "correct horse battery")
    page_a.get_by_role("button", name="Create account").click()
    expect(page_a.locator("#connection")).to_have_text("Online")
    code = create_room(page_a, "Design review")
    page_b = bob.sign_in()
    join_room(page_b, code, "Design review")

    # Presence: each sees the other online.
    expect(page_a.locator("#presence")).to_contain_text(bob.username)
    expect(page_b.locator("#presence")).to_contain_text(alice.username)

    # Typing, both ways.
    page_b.locator("#composer-input").press_sequentially("hel")
    expect(page_a.locator("#typing")).to_have_text(f"{bob.username} is typing…")
    page_a.locator("#composer-input").press_sequentially("hi")
    expect(page_b.locator("#typing")).to_have_text(f"{alice.username} is typing…")
    page_a.locator("#composer-input").fill("")

    # Live messages, rendered as Markdown, announced through the log's aria-live region.
    say(page_b, "hello **Alice**")
    last_on_a = messages(page_a).last
    expect(last_on_a).to_contain_text("hello Alice")
    expect(last_on_a.locator("strong")).to_have_text("Alice")
    expect(page_a.locator("#typing")).to_have_text("")
    expect(page_a.locator("#messages")).to_have_attribute("aria-live", "polite")
    say(page_a, "Plan:\n```python\ndef greet(name):\n    return f'hi {name}'\n```")
    expect(messages(page_b).last.locator("pre code .hljs-keyword").first).to_have_text("def")

    # The bot: its answer streams in, visibly growing, on the other person's screen too.
    say(page_a, "@bot [fake:tokens=80,seconds=4] summarise please")
    answer = page_b.locator("#messages article.msg.bot").last
    expect(answer).to_have_class(re.compile(r"status-streaming"), timeout=BOT_TIMEOUT_MS)
    expect(answer).to_have_attribute("aria-busy", "true")
    lengths = []
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        classes = answer.get_attribute("class") or ""
        text = answer.locator(".body").inner_text()
        if "status-streaming" not in classes:
            break
        if text and text != "Thinking…" and (not lengths or len(text) != lengths[-1]):
            lengths.append(len(text))
        time.sleep(0.05)
    expect(answer).to_have_class(re.compile(r"status-complete"))
    final = answer.locator(".body").inner_text()
    assert len(lengths) >= 2, f"the answer did not appear progressively: {lengths}"
    assert lengths == sorted(lengths) and lengths[-1] <= len(final)
    assert final.count(" ") >= 60
    expect(page_a.locator("#messages article.msg.bot").last).to_have_text(
        re.compile(re.escape(final[:40]))
    )
    # The server streams with `seq` (bot control): an ended answer offers Regenerate.
    assert page_a.evaluate("chatDebug.features()")["botControl"] is True
    expect(answer.locator("[data-action=regenerate]")).to_have_count(1)

    # A failed answer is shown in place.
    say(page_b, "@bot [fake:400] this one fails")
    failed = page_a.locator("#messages article.msg.bot").last
    expect(failed.locator(".bot-error")).to_be_visible(timeout=BOT_TIMEOUT_MS)
    expect(failed).to_have_class(re.compile(r"status-error"))

    # The main screens, desktop and phone, light and dark.
    for scheme in ("light", "dark"):
        page_a.emulate_media(color_scheme=scheme)
        page_a.set_viewport_size(DESKTOP)
        page_a.screenshot(path=screenshots / f"room-desktop-{scheme}.png")
        page_a.set_viewport_size(PHONE)
        page_a.screenshot(path=screenshots / f"room-phone-{scheme}.png")
    page_a.set_viewport_size(DESKTOP)
    page_a.emulate_media(color_scheme="light")
    assert alice.dialogs == [] and bob.dialogs == []


def test_message_content_never_runs_script(people, web_stack) -> None:
    mallory, victim = people("mallory"), people("victim")
    victim.register_by_api()
    token = mallory.register_by_api()
    page_m = mallory.sign_in()
    code = create_room(page_m, "Untrusted")
    page_v = victim.sign_in()
    join_room(page_v, code, "Untrusted")

    attacks = [
        "<img src=x onerror=alert(1)>",
        "[x](javascript:alert(1))",
        "<script>alert(2)</script>",
        '<a href="javascript:alert(3)">click</a> <svg onload=alert(4)>',
        "![pic](javascript:alert(5)) [y](JaVaScRiPt:alert(6))",
    ]
    rest = Rest(web_stack.urls["rest"])
    room_id = page_m.evaluate("decodeURIComponent(location.hash.slice(6))")
    for attack in attacks:
        response = rest.post(f"/rooms/{room_id}/messages", {"content": attack}, token=token)
        assert response.status_code == 201, response.text
    say(page_m, "@bot <img src=x onerror=alert(7)>")  # the fake bot echoes it back

    log = page_v.locator("#messages")
    expect(page_v.locator("#messages article.msg.bot.status-complete .body")).to_contain_text(
        "<img src=x onerror=alert(7)>", timeout=BOT_TIMEOUT_MS
    )
    expect(messages(page_v)).to_have_count(len(attacks) + 2)
    # Shown as the text that was typed, inert: no elements, no handlers, no script URLs.
    expect(messages(page_v).nth(0)).to_contain_text("<img src=x onerror=alert(1)>")
    expect(messages(page_v).nth(2)).to_contain_text("<script>alert(2)</script>")
    for selector in ("img", "script", "svg", "iframe", "[onerror]", "[onload]", "[style]"):
        expect(log.locator(f".body {selector}")).to_have_count(0)
    hrefs = log.locator(".body a").evaluate_all("links => links.map(a => a.getAttribute('href'))")
    assert all(href is None or href.startswith(("http:", "https:", "mailto:")) for href in hrefs)
    for link in log.locator(".body a").all():
        link.click()  # a neutered link does nothing
    page_v.wait_for_timeout(300)
    assert mallory.dialogs == [] and victim.dialogs == []


def test_reload_keeps_the_session_and_a_dropped_socket_catches_up(people, web_stack) -> None:
    carol, dave = people("carol"), people("dave")
    dave_token = dave.register_by_api()
    carol.register_by_api()
    page = carol.sign_in()
    code = create_room(page, "Night shift")
    room_id = page.evaluate("decodeURIComponent(location.hash.slice(6))")
    rest = Rest(web_stack.urls["rest"])
    assert rest.post("/rooms/join", {"code": code}, token=dave_token).status_code == 200
    say(page, "before the reload")
    # Stored before the reload: the server's ack replaces the pending copy.
    expect(messages(page).last).to_contain_text("before the reload")
    expect(messages(page).last).not_to_have_class(re.compile(r"\bpending\b"))

    # Reload: still signed in, the same room open, its history loaded.
    page.reload()
    expect(page.locator("#me")).to_have_text(carol.username)
    expect(page.locator("#room-name")).to_have_text("Night shift")
    expect(messages(page).last).to_contain_text("before the reload")
    expect(page.locator("#connection")).to_have_text("Online")

    # The network goes: the browser says so and offline shows at once (not when TCP gives up
    # on the socket); messages sent meanwhile arrive once it is back (rejoin + catch-up),
    # without a reload.
    carol.context.set_offline(True)
    expect(page.locator("#connection")).to_have_text(re.compile("Offline|Connecting"))
    for text in ("sent while you were away", "and a second one"):
        response = rest.post(f"/rooms/{room_id}/messages", {"content": text}, token=dave_token)
        assert response.status_code == 201
    page.wait_for_timeout(1500)  # reconnect attempts fail meanwhile
    expect(page.locator("#connection")).not_to_have_text("Online")
    carol.context.set_offline(False)
    expect(page.locator("#connection")).to_have_text("Online", timeout=30_000)
    expect(messages(page).nth(-2)).to_contain_text("sent while you were away")
    expect(messages(page).last).to_contain_text("and a second one")

    # Live again: a new message arrives over the new socket, presence is back.
    response = rest.post(f"/rooms/{room_id}/messages", {"content": "live again"}, token=dave_token)
    assert response.status_code == 201
    expect(messages(page).last).to_contain_text("live again")

    # Signing out forgets the session: a reload shows the sign-in form.
    page.get_by_role("button", name="Sign out").click()
    page.reload()
    expect(page.locator("#login-username")).to_be_visible()


def test_an_expired_session_returns_to_sign_in(people) -> None:
    erin = people("erin")
    erin.register_by_api()
    page = erin.sign_in()
    # The stored token no longer works (as after expiry): the next call returns to sign-in.
    page.evaluate(
        """() => {
          const s = JSON.parse(sessionStorage.getItem('chat.session'));
          s.token = s.token.slice(0, -4) + 'AAAA';
          sessionStorage.setItem('chat.session', JSON.stringify(s));
        }"""
    )
    page.reload()
    expect(page.locator("#login-username")).to_be_visible()
    expect(page.locator("#login-error")).to_contain_text("expired")
    # And a token past its expiry time is never used at all.
    page.evaluate(
        """() => sessionStorage.setItem('chat.session', JSON.stringify(
             {token: 'x', expires_at: Date.now() - 1000, user: {username: 'erin'}}))"""
    )
    page.reload()
    expect(page.locator("#login-username")).to_be_visible()


def test_rooms_members_invite_bot_settings_and_leave(people, screenshots: Path) -> None:
    frank, grace = people("frank"), people("grace")
    grace.register_by_api()
    frank.register_by_api()
    page = frank.sign_in()
    create_room(page, "Ops")

    # Invite by username; the member list shows roles and who is online.
    page.get_by_role("button", name="Members").click()
    dialog = page.locator("dialog")
    expect(dialog.locator("#members")).to_contain_text("bot")
    dialog.locator("#invite-name").fill(grace.username)
    dialog.get_by_role("button", name="Invite").click()
    expect(dialog.locator("#members")).to_contain_text(grace.username)
    dialog.locator("#invite-name").fill("nobody_here_at_all")
    dialog.get_by_role("button", name="Invite").click()
    expect(dialog).to_contain_text("No user has that name.")
    page.keyboard.press("Escape")
    expect(dialog).to_have_count(0)

    # Grace sees the room in her list and opens it by keyboard.
    page_g = grace.sign_in()
    room_button = page_g.locator("#room-list button.room", has_text="Ops")
    room_button.focus()
    page_g.keyboard.press("Enter")
    expect(page_g.locator("#room-name")).to_have_text("Ops")
    expect(page.locator("#presence")).to_contain_text(grace.username)
    expect(page_g.locator("#bot-button")).to_have_count(0)  # not the owner

    # The owner's bot settings: the key is write-only.
    page.get_by_role("button", name="Bot", exact=True).click()
    dialog = page.locator("dialog")
    dialog.locator("#bot-prompt").fill("Answer like a pirate.")
    dialog.locator("#bot-key").fill("AIza-test-key-123")
    dialog.get_by_role("button", name="Save").click()
    expect(dialog.locator("#bot-note")).to_contain_text("The room has its own key.")
    expect(dialog.locator("#bot-key")).to_have_value("")
    assert "AIza-test-key-123" not in page.content()
    page.set_viewport_size(DESKTOP)
    page.screenshot(path=screenshots / "bot-settings-desktop-light.png")
    page.keyboard.press("Escape")

    # Leaving removes the room from Grace's list.
    page_g.get_by_role("button", name="Leave").click()
    expect(page_g.locator("#room-list")).not_to_contain_text("Ops")
    assert grace.dialogs == ["confirm: Leave “Ops”?"]

    # The sign-in screen, light and dark, phone and desktop.
    grace.page.get_by_role("button", name="Sign out").click()
    for scheme in ("light", "dark"):
        page_g.emulate_media(color_scheme=scheme)
        for label, size in (("desktop", DESKTOP), ("phone", PHONE)):
            page_g.set_viewport_size(size)
            page_g.screenshot(path=screenshots / f"sign-in-{label}-{scheme}.png")


def test_phone_width_shows_one_pane_at_a_time(people) -> None:
    heidi: Person = people("heidi", viewport=PHONE)
    heidi.register_by_api()
    page = heidi.sign_in()
    create_room(page, "Pocket")
    expect(page.locator(".sidebar")).to_be_hidden()
    page.get_by_role("button", name="Back to rooms").click()
    expect(page.locator(".sidebar")).to_be_visible()
    expect(page.locator("#room-view")).to_be_hidden()


def test_stop_and_regenerate_against_the_real_bot(people) -> None:
    """A slow answer is stopped while it streams: it ends, marked stopped, and stays so
    after a reload; Regenerate then asks the real bot again for a new answer."""
    ivan = people("ivan")
    ivan.register_by_api()
    page = ivan.sign_in()
    create_room(page, "Control")
    say(page, "@bot [fake:tokens=400,seconds=40] go")
    bots = page.locator("#messages article.msg.bot")
    answer = bots.last
    expect(answer).to_have_class(re.compile(r"status-streaming"), timeout=BOT_TIMEOUT_MS)
    expect(answer.locator(".body")).not_to_have_text(re.compile(r"^(Thinking…)?$"))
    stop = answer.get_by_role("button", name="Stop")
    expect(stop).to_be_visible()
    stop.click()
    expect(answer).to_have_class(re.compile(r"status-stopped"))
    expect(answer).to_contain_text("(stopped)")
    expect(answer.get_by_role("button", name="Stop")).to_have_count(0)
    stopped_text = answer.locator(".body").inner_text()
    assert 0 < stopped_text.count(" ") < 300, stopped_text  # cut short, well before 400 tokens
    answer_id = answer.get_attribute("data-id")

    # After a reload the stored answer is still stopped, with what was streamed.
    page.reload()
    expect(page.locator("#room-name")).to_have_text("Control")
    again = page.locator(f"#messages article.msg.bot[data-id='{answer_id}']")
    expect(again).to_have_class(re.compile(r"status-stopped"))
    expect(again).to_contain_text("(stopped)")
    expect(again.locator(".body")).to_have_text(stopped_text)
    page.wait_for_timeout(2500)  # past the stop: nothing more arrives for it
    expect(again.locator(".body")).to_have_text(stopped_text)

    # Regenerate: the same command answered again, as a new bot message.
    again.get_by_role("button", name="Regenerate").click()
    expect(bots).to_have_count(2, timeout=BOT_TIMEOUT_MS)
    fresh = bots.last
    assert fresh.get_attribute("data-id") != answer_id
    expect(fresh.locator(".body")).not_to_have_text(re.compile(r"^(Thinking…)?$"))
    fresh.get_by_role("button", name="Stop").click()  # no need to wait 40 seconds
    expect(fresh).to_have_class(re.compile(r"status-stopped"))
    expect(again).to_have_class(re.compile(r"status-stopped"))  # the earlier answer stays


def test_replies_edits_deletes_reactions_and_unread_badges_reach_the_other_person(people) -> None:
    kim, leo = people("kim"), people("leo")
    kim.register_by_api()
    leo.register_by_api()
    page_k = kim.sign_in()
    side = create_room(page_k, "Side")
    talk = create_room(page_k, "Talk")
    page_l = leo.sign_in()
    join_room(page_l, side, "Side")
    join_room(page_l, talk, "Talk")
    expect(page_k.locator("#presence")).to_contain_text(leo.username)

    # Leo writes; Kim replies to it through the message's Reply action.
    say(page_l, "the first draft")
    expect(messages(page_k).last.locator(".body")).to_have_text("the first draft")
    expect(messages(page_l).last).not_to_have_class(re.compile(r"\bpending\b"))
    original_id = messages(page_k).last.get_attribute("data-id")
    original_on_k = by_id(page_k, original_id)
    original_on_k.get_by_role("button", name="Reply").click()
    expect(page_k.locator("#composer-tools .replying")).to_contain_text(
        f"Replying to {leo.username}: the first draft"
    )
    say(page_k, "looks good")
    expect(page_k.locator("#composer-tools .replying")).to_have_count(0)
    expect(messages(page_l).last.locator(".body")).to_have_text("looks good")
    reply_id = messages(page_l).last.get_attribute("data-id")
    reply_on_l = by_id(page_l, reply_id)
    expect(reply_on_l.locator(".quote")).to_have_text(f"↪ {leo.username}: the first draft")

    # Leo edits his message: Kim sees the new text, marked edited (message_updated).
    original_on_l = by_id(page_l, original_id)
    expect(original_on_l.locator(".body")).to_have_text("the first draft")
    original_on_l.get_by_role("button", name="Edit").click()
    editor = original_on_l.locator("textarea.edit")
    editor.fill("the second draft")
    editor.press("Enter")
    expect(original_on_k.locator(".body")).to_have_text("the second draft")
    expect(original_on_k.locator(".edited")).to_have_text("(edited)")
    expect(original_on_l.locator(".edited")).to_have_text("(edited)")
    # Only one's own messages can be edited.
    expect(reply_on_l.get_by_role("button", name="Edit")).to_have_count(0)

    # Leo reacts to Kim's reply: Kim sees the count live (reaction frame).
    reply_on_l.get_by_role("button", name="React", exact=True).click()
    reply_on_l.get_by_role("button", name="React 🎉").click()
    expect(reply_on_l.locator(".reaction")).to_have_text("🎉 1")
    expect(reply_on_l.locator(".reaction")).to_have_attribute("aria-pressed", "true")
    reply_on_k = by_id(page_k, reply_id)
    expect(reply_on_k.locator(".reaction")).to_have_text("🎉 1")
    expect(reply_on_k.locator(".reaction")).to_have_attribute("aria-pressed", "false")
    expect(reply_on_k.locator(".reaction")).to_have_attribute("title", leo.username)

    # Leo deletes his message: Kim sees it gone (message_deleted).
    original_on_l.get_by_role("button", name="Delete").click()
    expect(original_on_l.locator(".body")).to_have_text("This message was deleted.")
    expect(original_on_k.locator(".body")).to_have_text("This message was deleted.")
    expect(original_on_k).to_have_class(re.compile(r"\bdeleted\b"))
    assert leo.dialogs == ["confirm: Delete this message?"]

    # Kim writes in the room Leo is not viewing: an unread badge appears in Leo's list.
    side_on_l = page_l.locator("#room-list button.room", has_text="Side")
    expect(side_on_l.locator(".badge")).to_have_count(0)
    side_on_l.focus()  # Leo is moving through his room list by keyboard meanwhile
    page_k.locator("#room-list button.room", has_text="Side").click()
    expect(page_k.locator("#room-name")).to_have_text("Side")
    say(page_k, "over here")
    say(page_k, "and here")
    expect(side_on_l.locator(".badge")).to_have_text("2")
    # The list was drawn again for each message; the focus stayed on Leo's room button.
    expect(side_on_l).to_be_focused()
    expect(
        page_l.locator("#room-list button.room", has_text="Talk").locator(".badge")
    ).to_have_count(0)
    # Opening the room reads it: the badge goes.
    side_on_l.click()
    expect(messages(page_l).last.locator(".body")).to_have_text("and here")
    expect(
        page_l.locator("#room-list button.room", has_text="Side").locator(".badge")
    ).to_have_count(0)
    assert kim.dialogs == []


def tiny_png(width: int = 3, height: int = 2) -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    rows = b"".join(b"\x00" + b"\xff\x40\x00" * width for _ in range(height))
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(rows))
        + chunk(b"IEND", b"")
    )


def test_messages_written_quickly_are_stored_in_the_order_they_were_written(people) -> None:
    kim = people("kim")
    kim.register_by_api()
    page = kim.sign_in()
    create_room(page, "Quick")
    # Given the server holds each message's POST until the test lets it through
    held = []

    def hold(route) -> None:
        if route.request.method == "POST":
            held.append(route)
        else:
            route.continue_()

    page.route(re.compile(r"/rooms/[^/]+/messages$"), hold)
    # When Kim writes three messages before the first is stored
    for text in ("one", "two", "three"):
        say(page, text)
    expect(messages(page)).to_have_count(3)  # all shown at once, pending
    # Then each POST waits for the one before it: one at a time, in order
    for text in ("one", "two", "three"):
        page.wait_for_timeout(300)  # time for a POST that would not wait to be made
        assert len(held) == 1, [route.request.post_data_json["content"] for route in held]
        route = held.pop()
        assert route.request.post_data_json["content"] == text
        route.continue_()
        expect(messages(page).filter(has_text=text)).not_to_have_class(re.compile(r"\bpending\b"))
    # and the room stores them in that order
    page.unroute(re.compile(r"/rooms/[^/]+/messages$"))
    page.reload()
    page.locator("#room-list button.room", has_text="Quick").click()
    expect(messages(page).locator(".body")).to_have_text(["one", "two", "three"])


def test_an_attached_image_uploads_with_progress_and_shows_to_the_other_person(people) -> None:
    mia, ned = people("mia"), people("ned")
    mia.register_by_api()
    ned.register_by_api()
    page_m = mia.sign_in()
    code = create_room(page_m, "Pictures")
    page_n = ned.sign_in()
    join_room(page_n, code, "Pictures")

    # The upload's progress bar is watched while it lasts (it goes once the file is stored).
    page_m.evaluate(
        """() => {
          window.progressSeen = [];
          new MutationObserver(() => {
            for (const bar of document.querySelectorAll('#composer-tools progress'))
              window.progressSeen.push([bar.getAttribute('aria-label'), bar.value]);
          }).observe(document.getElementById('composer-tools'),
                     {subtree: true, childList: true, attributes: true});
        }"""
    )
    png = tiny_png()
    page_m.locator("#attach-input").set_input_files(
        {"name": "pixel.png", "mimeType": "image/png", "buffer": png}
    )
    expect(page_m.locator("#composer-tools .chip")).to_have_text("Attached: pixel.png")
    seen = page_m.evaluate("window.progressSeen")
    assert seen and seen[0][0] == "Uploading pixel.png", seen
    assert max(value for _, value in seen) == 100, seen

    say(page_m, "the new logo")
    expect(page_m.locator("#composer-tools .chip")).to_have_count(0)
    on_n = messages(page_n).last
    expect(on_n.locator(".body")).to_have_text("the new logo")
    image = on_n.locator(".attachments img")
    expect(image).to_have_attribute("alt", "pixel.png")
    # The preview really loads from storage: the picture's own size.
    page_n.wait_for_function(
        "img => img.complete && img.naturalWidth > 0", arg=image.element_handle()
    )
    assert image.evaluate("img => [img.naturalWidth, img.naturalHeight]") == [3, 2]
    expect(messages(page_m).last.locator(".attachments img")).to_have_count(1)


def test_history_scrolls_back_page_by_page(people, web_stack) -> None:
    judy = people("judy")
    token = judy.register_by_api()
    rest = Rest(web_stack.urls["rest"])
    room = rest.post("/rooms", {"name": "Archive"}, token=token).json()
    for number in range(1, 61):  # more than the client's page of 50
        sent = rest.post(
            f"/rooms/{room['room_id']}/messages", {"content": f"note {number}"}, token=token
        )
        assert sent.status_code == 201
    page = judy.sign_in()
    page.locator("#room-list button.room", has_text="Archive").click()
    expect(messages(page)).to_have_count(50)
    expect(messages(page).first.locator(".body")).to_have_text("note 11")
    expect(messages(page).last.locator(".body")).to_have_text("note 60")
    page.locator("#messages").evaluate("log => { log.scrollTop = 0; }")  # scrolling up loads more
    expect(messages(page)).to_have_count(60)
    expect(messages(page).first.locator(".body")).to_have_text("note 1")
    expect(page.locator("#messages")).to_contain_text("This is the start of the room.")


# A text file that is really a page: were it ever rendered as HTML, it would read the local
# Secrets Manager (the AWS APIs' endpoint) and say so in its title.
STEALER = b"""<!doctype html><title>harmless</title><script>
window.ran = true;
fetch(new URLSearchParams(location.hash.slice(1)).get('aws'), {method: 'POST',
  headers: {'X-Amz-Target': 'secretsmanager.ListSecrets',
            'Content-Type': 'application/x-amz-json-1.1'}, body: '{}'})
  .then(r => r.text()).then(t => { document.title = 'stolen ' + t; });
</script>"""

PROBE_AWS = """async ([aws, bucketUrl]) => {
  const out = {};
  try {
    const r = await fetch(aws, {method: 'POST', body: '{}', headers: {
      'X-Amz-Target': 'secretsmanager.ListSecrets', 'Content-Type': 'application/x-amz-json-1.1'}});
    out.secrets = `read ${r.status}: ${await r.text()}`;
  } catch (e) { out.secrets = 'blocked'; }
  try { out.listing = (await fetch(bucketUrl)).status; } catch (e) { out.listing = 'blocked'; }
  return out;
}"""


def test_no_page_can_script_against_the_local_aws_endpoints(people, web_stack) -> None:
    import httpx

    # Given a member's "notes.txt" that is an HTML page, attached to a message
    eve = people("eve")
    token = eve.register_by_api()
    rest = Rest(web_stack.urls["rest"])
    room = rest.post("/rooms", {"name": "Files"}, token=token).json()
    declared = rest.post(
        f"/rooms/{room['room_id']}/attachments",
        {"filename": "notes.txt", "content_type": "text/plain", "size": len(STEALER)},
        token=token,
    ).json()
    form = declared["upload"]
    posted = httpx.post(form["url"], data=form["fields"], files={"file": ("n", STEALER)})
    assert posted.status_code == 204, posted.text
    sent = rest.post(
        f"/rooms/{room['room_id']}/messages",
        {"content": "", "attachments": [declared["attachment_id"]]},
        token=token,
    ).json()
    url = sent["attachments"][0]["url"]
    aws = web_stack.urls["aws"]
    bucket_url = url.split("?")[0].rsplit("/rooms/", 1)[0]
    assert url.startswith(web_stack.urls["s3"])  # files come from their own origin

    # When it is opened as the contract's URL serves it, or with its URL altered
    page = eve.page
    opened = page.goto(f"{url}#aws={aws}")
    assert opened is not None and opened.status == 200
    assert opened.headers["content-type"] == "text/plain"
    assert opened.headers["x-content-type-options"] == "nosniff"
    assert page.evaluate("window.ran") is None  # shown as text: no script ran
    for altered in (
        url + "&response-content-type=text%2Fhtml",
        url.split("X-Amz-Signature=")[0] + "X-Amz-Signature=" + "0" * 64,
    ):
        refused = page.goto(f"{altered}#aws={aws}")
        assert refused is not None and refused.status == 403, altered
        assert page.evaluate("window.ran") is None

    # Then neither a page of the files' origin nor the web client can reach the AWS APIs
    page.goto(url)
    from_files = page.evaluate(PROBE_AWS, [aws, bucket_url])
    web_client = eve.open()
    from_client = web_client.evaluate(PROBE_AWS, [aws, bucket_url])
    assert from_files == {"secrets": "blocked", "listing": 403}, from_files
    assert from_client["secrets"] == "blocked", from_client
    assert from_client["listing"] in (403, "blocked"), from_client


def test_search_finds_words_across_rooms_and_opens_the_room_at_the_message(
    people, web_stack
) -> None:
    # Given kim's two rooms: an old message in Planning (beyond the first page of history)
    # and a newer one in Ops
    kim = people("kim")
    token = kim.register_by_api()
    rest = Rest(web_stack.urls["rest"])
    planning = rest.post("/rooms", {"name": "Planning"}, token=token).json()
    ops = rest.post("/rooms", {"name": "Ops"}, token=token).json()
    path = f"/rooms/{planning['room_id']}/messages"
    old = rest.post(path, {"content": "The Déploiement plan is ready"}, token=token).json()
    for number in range(1, 56):  # more than the client's page of 50
        assert rest.post(path, {"content": f"note {number}"}, token=token).status_code == 201
    ops_path = f"/rooms/{ops['room_id']}/messages"
    assert (
        rest.post(ops_path, {"content": "deployment failed again"}, token=token).status_code == 201
    )
    deadline = time.monotonic() + 30  # both indexed (the stream's indexer runs apart)
    while len(rest.get("/search?q=deplo", token=token).json()["results"]) < 2:
        assert time.monotonic() < deadline, "not indexed"
        time.sleep(0.2)
    # When she searches for the start of the word
    page = kim.sign_in()
    # (results name their rooms from the room list, which loads after sign-in)
    expect(page.locator("#room-list")).to_contain_text("Ops")
    page.fill("#search-input", "DEPLO")
    page.press("#search-input", "Enter")
    # Then both are listed, newest first, with their room, author, time and the words marked
    results = page.locator("#search-results .result")
    expect(results).to_have_count(2)
    expect(results.nth(0).locator(".result-room")).to_have_text("Ops")
    expect(results.nth(0).locator(".author")).to_have_text(kim.username)
    expect(results.nth(0).locator("mark")).to_have_text("deployment")
    expect(results.nth(1).locator(".result-room")).to_have_text("Planning")
    expect(results.nth(1).locator("mark")).to_have_text("Déploiement")
    expect(results.nth(1).locator("time")).not_to_have_text("")
    # When she opens the older one, its room opens scrolled to it, older pages loaded
    results.nth(1).click()
    expect(page.locator("#search-results")).to_have_count(0)
    expect(page.locator("#room-name")).to_have_text("Planning")
    found = by_id(page, old["message_id"])
    expect(found).to_be_visible()
    expect(found).to_have_class(re.compile(r"\bfound\b"))
    expect(found.locator(".body")).to_have_text("The Déploiement plan is ready")
    # A query with no letter or digit is answered with the server's reason
    page.fill("#search-input", "!!!")
    page.press("#search-input", "Enter")
    expect(page.locator("#search-status")).to_contain_text("letter or digit")
