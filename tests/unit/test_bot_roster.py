"""A room's bots in one shape, which bot a message addresses, and what a summary is given
(pure: room and message items in)."""

from __future__ import annotations

import itertools
from typing import Any

import pytest

from chat.logic.bot import roster, summary
from chat.logic.bot.context import Turn
from chat.models import addressed_name

_ids = itertools.count(1)


def room(**fields: Any) -> dict[str, Any]:
    base = {"room_id": "r1", "name": "general", "owner": "alice", "owner_id": "u1"}
    return {**base, **fields}


def entry(name: str, at: str, **fields: Any) -> dict[str, Any]:
    return {"name": name, "created_at": at, **fields}


def message(username: str, content: str, **fields: Any) -> dict[str, Any]:
    number = next(_ids)
    return {
        "message_id": f"01M{number:08d}",
        "room_id": "r1",
        "username": username,
        "content": content,
        "message_type": "text",
        "is_bot": False,
        **fields,
    }


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        ("@bot hi", "bot"),
        ("/BOT hi", "bot"),
        ("@Reviewer please", "reviewer"),
        ("  @re.view-er_1\nlook", "re.view-er_1"),
        ("@reviewer", "reviewer"),
        ("@reviewer, hi", None),
        ("hi @reviewer", None),
        ("/reviewer hi", None),
        ("@", None),
    ],
)
def test_the_addressed_name(content, expected):
    assert addressed_name(content) == expected


def test_the_default_bot_comes_first_then_named_bots_as_added():
    item = room(
        model="m0",
        bots={
            "zed": entry("Zed", "2026-01-02T00:00:00.000Z"),
            "amy": entry("amy", "2026-01-03T00:00:00.000Z", model="m2"),
        },
    )
    bots = roster.profiles(item)
    assert [(b.name, b.model, b.is_default) for b in bots] == [
        ("bot", "m0", True),
        ("Zed", "gemini-2.5-flash", False),
        ("amy", "m2", False),
    ]
    assert roster.find(item, "ZED").name == "Zed"
    assert roster.find(item, "nobody") is None


def test_a_bots_view_never_shows_its_key_and_names_every_setting():
    item = room(
        bots={
            "helper": entry(
                "Helper",
                "2026-01-01T00:00:00.000Z",
                api_key_ciphertext=b"secret",
                tools=["web_search"],
                monthly_token_budget=1000,
                answers_replies=True,
            )
        }
    )
    view = roster.find(item, "helper").view().model_dump()
    assert view == {
        "name": "Helper",
        "model": "gemini-2.5-flash",
        "system_prompt": None,
        "has_api_key": True,
        "tools": ["web_search"],
        "monthly_token_budget": 1000,
        "answers_replies": True,
    }


def test_a_reply_to_a_bots_answer_addresses_it_only_when_it_answers_replies():
    item = room(
        bots={
            "tutor": entry("Tutor", "t", answers_replies=True),
            "quiet": entry("Quiet", "t"),
        }
    )
    tutor_answer = message("Tutor", "x", message_type="bot", is_bot=True)
    quiet_answer = message("Quiet", "x", message_type="bot", is_bot=True)
    person = message("bob", "x")
    assert roster.addressed(item, "why?", tutor_answer).name == "Tutor"
    assert roster.addressed(item, "why?", quiet_answer) is None
    assert roster.addressed(item, "why?", person) is None
    assert roster.addressed(item, "@quiet why?", tutor_answer).name == "Quiet"
    assert roster.addressed(item, "@ghost why?", None) is None


# ------------------------------------------------------------------------------ summaries
def test_a_summary_sees_what_its_viewer_may_see_oldest_first():
    found = [
        message("bob", "later"),
        message("alice", "mine", visible_to="alice"),
        message("carol", "", deleted=True),
        message("bob", "theirs", visible_to="bob"),
        message("bot", "writing", message_type="bot", status="streaming"),
        message("bob", "multi\n  line"),
    ]
    assert summary.lines(reversed(found), "alice") == [
        "bob: later",
        "alice: mine",
        "bob: multi line",
    ]
    assert summary.lines(found, None) == ["bob: later", "bob: multi line"]


def test_parts_keep_the_newest_within_the_size_and_stage_limits():
    rendered = [f"line {n:02d}" for n in range(20)]  # 7 characters each, 8 with the newline
    cut = summary.parts(rendered, max_chars=24)
    assert all(sum(len(line) + 1 for line in part) <= 24 for part in cut)
    assert len(cut) == summary.MAX_STAGES
    assert cut[-1] == ["line 17", "line 18", "line 19"]
    assert [line for part in cut for line in part] == rendered[-3 * summary.MAX_STAGES :]


def test_one_part_is_one_request_and_several_are_stages():
    command = message("bob", summary.COMMAND_TEXT, message_type="command")
    small = summary.model_input("general", command, [message("alice", "hello")])
    assert small.stages == ()
    assert small.contents == (
        Turn("user", f"The messages, oldest first:\nalice: hello\n\nbob: {summary.COMMAND_TEXT}"),
    )
    many = [message("alice", "x" * 60_000), message("alice", "y" * 60_000)]
    staged = summary.model_input("general", command, many)
    assert len(staged.stages) == 2 and staged.combine is not None
    final = staged.combine(["first", "second"])
    assert "first\nsecond" in final.contents[-1].text
