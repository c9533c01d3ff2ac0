"""Named bots in the web client, in headless Chromium against the local stack: the owner adds
two bots in the Bots dialog, each answers by its name with its own avatar colour, a private
command and its answer show for their author only, and a summary of what one missed."""

from __future__ import annotations

import re

from playwright.sync_api import expect

from tests.browser.test_web_client import BOT_TIMEOUT_MS, create_room, join_room, say
from tests.e2e.conftest import unique


def add_bot(page, name: str) -> None:
    dialog = page.locator("dialog")
    dialog.locator("#new-bot-name").fill(name)
    dialog.get_by_role("button", name="Add bot").click()
    expect(dialog.locator("#bots-note")).to_contain_text(f"Added {name}")


def test_two_people_two_named_bots_a_private_answer_and_a_summary(people) -> None:
    alice, bob = people("alice"), people("bob")
    alice.register_by_api()
    bob.register_by_api()
    page = alice.sign_in()
    code = create_room(page, "Crew")
    page_b = bob.sign_in()
    join_room(page_b, code, "Crew")
    reviewer, planner = unique("rev"), unique("plan")

    # The owner adds two bots; they are listed after the default one.
    page.get_by_role("button", name="Bots", exact=True).click()
    add_bot(page, reviewer)
    add_bot(page, planner)
    expect(page.locator("dialog #bots li")).to_have_count(3)
    page.keyboard.press("Escape")
    # Bob (not the owner) sees them, without the owner's tools.
    page_b.get_by_role("button", name="Bots", exact=True).click()
    expect(page_b.locator("dialog #bots li")).to_have_count(3)
    expect(page_b.locator("dialog #add-bot")).to_have_count(0)
    page_b.keyboard.press("Escape")

    # Each bot answers by its name, in its own colour, for both people.
    say(page, f"@{reviewer} check this [fake:text=Looks fine]")
    # Stored (Bob was pushed it) before Bob's command: the room's queue answers in that order.
    expect(page_b.locator("#messages")).to_contain_text("check this")
    say(page_b, f"@{planner} plan it [fake:text=Step one]")
    for viewer in (page, page_b):
        answers = viewer.locator("#messages article.msg.bot")
        expect(answers).to_have_count(2, timeout=BOT_TIMEOUT_MS)
        expect(answers.nth(0).locator(".author")).to_have_text(reviewer)
        expect(answers.nth(1).locator(".author")).to_have_text(planner)
        expect(answers.nth(1)).to_have_class(re.compile(r"status-complete"), timeout=BOT_TIMEOUT_MS)
    hues = [
        re.search(
            r"bot-hue-\d",
            page.locator("#messages article.msg.bot").nth(n).get_attribute("class") or "",
        )
        for n in (0, 1)
    ]
    assert all(hues)

    # A private command: Bob's question and its answer are his alone.
    page_b.locator("#private-toggle").check()
    say(page_b, "@bot just for me [fake:text=Secret answer]")
    mine = page_b.locator("#messages article.msg.private")
    expect(mine).to_have_count(2, timeout=BOT_TIMEOUT_MS)
    expect(mine.last).to_contain_text("Secret answer", timeout=BOT_TIMEOUT_MS)
    expect(mine.first.locator(".private-tag")).to_have_text("Only you")
    say(page_b, "and this is public")
    expect(page.locator("#messages article.msg").last).to_contain_text("and this is public")
    expect(page.locator("#messages")).not_to_contain_text("Secret answer")
    expect(page.locator("#messages")).not_to_contain_text("just for me")

    # A summary of what Bob missed: the default bot's answer, for Bob only.
    say(page, "we deploy on Friday")
    page_b.get_by_role("button", name="Summarize what I missed").click()
    expect(page_b.locator("#messages article.msg.bot.private")).to_have_count(
        2, timeout=BOT_TIMEOUT_MS
    )
    expect(page.locator("#messages article.msg.private")).to_have_count(0)
