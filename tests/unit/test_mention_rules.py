"""Mentions and who hears of a message (pure): the contract's `@username` syntax, and the
notifier's audience from levels, mentions, authors, bots and private messages."""

from __future__ import annotations

from typing import Any

import pytest

from chat.dal.items import MembershipItem, MessageItem
from chat.logic.notifications import audience
from chat.logic.notifications.levels import default_level, level_of
from chat.logic.notifications.mentions import candidates


# ------------------------------------------------------------------------------ the syntax
@pytest.mark.parametrize(
    ("content", "names"),
    [
        ("@alice hi", ["alice"]),
        ("hi @alice", ["alice"]),
        ("hi @Alice and @ALICE", ["alice"]),  # any case, once
        ("@bob then @alice then @bob", ["bob", "alice"]),  # order of first appearance
        ("(@alice), @bob! @carol? @dave: @erin;", ["alice", "bob", "carol", "dave", "erin"]),
        ("«@alice» “@bob”", ["alice", "bob"]),  # any character that is not a name's
        ("line\n@alice\t@bob", ["alice", "bob"]),
        ("write to bob@alice.com", []),  # an e-mail address: `@` after a name character
        ("a_@alice x.@bob y-@carol", []),  # `_`, `.` and `-` are name characters
        ("@alice.", ["alice."]),  # `.` can end a name: this names "alice." (no such user)
        ("@al", []),  # shorter than any username
        ("@" + "a" * 33, []),  # longer than any username
        ("@@alice", ["alice"]),  # `@` is not a name character
        ("@ann @anna", ["ann", "anna"]),  # a name that is a prefix of another
        ("@anna", ["anna"]),  # never the shorter name inside a longer one
        ("@anna's", ["anna"]),  # `'` ends a name
        ("email@", []),
        ("no mentions here", []),
    ],
)
def test_the_names_written_as_mentions(content: str, names: list[str]) -> None:
    assert candidates(content, author="zed") == names


def test_the_author_never_mentions_themselves() -> None:
    assert candidates("@Zed and @alice", author="zed") == ["alice"]


# ------------------------------------------------------------------------------ levels
def test_default_levels_by_room_kind() -> None:
    assert default_level(is_group=False) == "all"
    assert default_level(is_group=True) == "mentions"
    member = _member("alice")
    assert level_of(member, is_group=True) == "mentions"
    assert level_of({**member, "notifications": "none"}, is_group=False) == "none"
    assert level_of(None, is_group=False) == "all"


# ------------------------------------------------------------------------------ the audience
def _member(username: str, level: str | None = None, role: str = "member") -> MembershipItem:
    item: dict[str, Any] = {
        "room_id": "r1",
        "user_id": f"u-{username}",
        "username": username,
        "role": role,
        "joined_at": "2026-01-01T00:00:00.000Z",
    }
    if level:
        item["notifications"] = level
    return item  # type: ignore[return-value]


def _message(author: str, content: str = "hi", **extra: Any) -> MessageItem:
    return {  # type: ignore[return-value]
        "room_id": "r1",
        "message_id": "m1",
        "username": author,
        "content": content,
        "message_type": "text",
        "is_bot": author == "bot",
        "created_at": "2026-01-01T00:00:00.000Z",
        **extra,
    }


MEMBERS = [
    _member("alice", role="owner"),  # group default: mentions
    _member("bob", "all"),
    _member("carol", "none"),
    _member("dave", "mentions"),
    _member("bot", role="bot"),
]


def _who(recipients: list[audience.Recipient]) -> dict[str, tuple[bool, bool]]:
    return {r.username: (r.mentioned, r.push) for r in recipients}


def test_a_plain_message_reaches_the_all_level_only_never_its_author() -> None:
    recipients = audience.recipients(_message("alice"), True, MEMBERS, "message")
    assert _who(recipients) == {"bob": (False, True)}


def test_mentions_reach_the_mentioned_whatever_their_level_but_push_by_level() -> None:
    message = _message("bob", mentions=["carol", "dave"])
    recipients = audience.recipients(message, True, MEMBERS, "message")
    # carol (none) still gets the frame when online, never a push; dave (mentions) both
    assert _who(recipients) == {"carol": (True, False), "dave": (True, True)}


def test_a_direct_room_defaults_to_every_message() -> None:
    members = [_member("alice", role="owner"), _member("bob"), _member("bot", role="bot")]
    recipients = audience.recipients(_message("alice"), False, members, "message")
    assert _who(recipients) == {"bob": (False, True)}


def test_a_bot_answer_reaches_the_all_level_including_who_asked() -> None:
    answer = _message("bot", "the answer", message_type="bot", reply_to="c1")
    recipients = audience.recipients(answer, True, [*MEMBERS, _member("erin", "all")], "answer")
    assert _who(recipients) == {"bob": (False, True), "erin": (False, True)}


def test_an_edit_reaches_only_the_newly_mentioned() -> None:
    message = _message("alice", mentions=["bob", "dave", "carol"])
    recipients = audience.recipients(message, True, MEMBERS, "edit", ["dave", "carol"])
    assert _who(recipients) == {"dave": (True, True), "carol": (True, False)}


def test_a_private_message_reaches_nobody_but_its_viewer() -> None:
    answer = _message("bot", "just for bob", visible_to="bob")
    everyone = [_member(name, "all") for name in ("alice", "bob", "carol")]
    assert _who(audience.recipients(answer, True, everyone, "answer")) == {"bob": (False, True)}
    command = _message("bob", "@bot private", visible_to="bob", mentions=["alice"])
    assert audience.recipients(command, True, everyone, "message") == []


@pytest.mark.parametrize(
    ("content", "attachments", "expected"),
    [
        ("  hello\n\n  world  ", [], "hello world"),
        ("", [{"filename": "plan.pdf"}, {"filename": "a.png"}], "plan.pdf, a.png"),
        ("x" * 200, [], "x" * 119 + "…"),
        ("é" * 120, [], "é" * 120),
    ],
)
def test_the_preview_is_one_line_of_at_most_120_characters(
    content: str, attachments: list[dict[str, str]], expected: str
) -> None:
    preview = audience.preview(_message("alice", content, attachments=attachments))
    assert preview == expected and len(preview) <= audience.PREVIEW_CHARACTERS
