"""The bot's tools and usage in the web client, in headless Chromium against the local stack:
the owner turns the tools on, a grounded answer shows its sources and its tool calls to both
people in the room (live, and again after a reload), and every member sees the room's usage."""

from __future__ import annotations

import re

from playwright.sync_api import expect

from tests.browser.test_web_client import BOT_TIMEOUT_MS, create_room, join_room, say


def test_sources_and_tool_calls_show_under_answers_and_members_see_usage(people) -> None:
    alice, bob = people("alice"), people("bob")
    alice.register_by_api()
    bob.register_by_api()
    page = alice.sign_in()
    code = create_room(page, "Research")
    page_b = bob.sign_in()
    join_room(page_b, code, "Research")

    # The owner gives the bot both tools (on a model that takes both at once) and a budget.
    page.get_by_role("button", name="Bot", exact=True).click()
    dialog = page.locator("dialog")
    dialog.locator("#bot-model").fill("gemini-3-flash")
    dialog.locator("#bot-tool-room_search").check()
    dialog.locator("#bot-tool-web_search").check()
    dialog.locator("#bot-budget").fill("100000")
    dialog.get_by_role("button", name="Save").click()
    expect(dialog.locator("#bot-note")).to_contain_text("Saved.")
    page.keyboard.press("Escape")

    # A grounded answer: its sources as links, its web search as a small line, for both.
    say(page, "@bot what's new? [fake:sources=2]")
    for viewer in (page, page_b):
        answer = viewer.locator("#messages article.msg.bot").last
        expect(answer).to_have_class(re.compile(r"status-complete"), timeout=BOT_TIMEOUT_MS)
        links = answer.locator("ol.sources a")
        expect(links).to_have_count(2)
        expect(links.first).to_have_text("Fake page 1")
        expect(links.first).to_have_attribute("href", "https://example.com/fake-page-1")
        expect(links.first).to_have_attribute("rel", "noopener noreferrer nofollow")
        expect(answer.locator(".tool-calls")).to_have_text("🔎 searched the web for “what's new?”")

    # A room search: the call shows as a line too, and after a reload both are still there.
    say(page, "@bot look back [fake:tool=room_search,query=tulips]")
    bots = page.locator("#messages article.msg.bot")
    expect(bots).to_have_count(2, timeout=BOT_TIMEOUT_MS)
    expect(bots.last.locator(".tool-calls")).to_have_text(
        "🔎 searched the room for “tulips”", timeout=BOT_TIMEOUT_MS
    )
    page_b.reload()
    expect(page_b.locator("#room-name")).to_have_text("Research")
    reloaded = page_b.locator("#messages article.msg.bot")
    expect(reloaded).to_have_count(2)
    expect(reloaded.first.locator("ol.sources a")).to_have_count(2)
    expect(reloaded.last.locator(".tool-calls")).to_contain_text("searched the room")
    expect(reloaded.last.locator("ol.sources")).to_have_count(0)

    # Bob (not the owner) sees the month's usage: two answers by the bot.
    page_b.get_by_role("button", name="Usage").click()
    usage = page_b.locator("dialog #usage")
    expect(usage.locator("tbody tr")).to_have_count(1)
    expect(usage.locator("tbody tr td").nth(0)).to_have_text("bot")
    expect(usage.locator("tbody tr td").nth(1)).to_have_text("2")
