"""Pure logic: the bot trigger, ids, timestamps, join codes."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest

from chat.ids import iso, new_id, now_iso
from chat.logic.rooms.join_codes import new_join_code, normalise_code
from chat.models import is_bot_command


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        ("@bot hello", True),
        ("/bot hello", True),
        ("@BOT", True),
        ("  /Bot  ", True),
        ("@bot\nmultiline", True),
        ("me@bot.com", False),
        ("@botanist", False),
        ("/bots", False),
        ("hello @bot", False),
        ("bot hello", False),
        ("", False),
    ],
)
def test_bot_trigger(content, expected):
    assert is_bot_command(content) is expected


def test_ids_are_26_chars_and_strictly_increasing_within_a_millisecond():
    ids = [new_id() for _ in range(2000)]
    assert all(len(i) == 26 and re.fullmatch(r"[0-9A-HJKMNP-TV-Z]+", i) for i in ids)
    assert ids == sorted(ids)
    assert len(set(ids)) == len(ids)


def test_timestamps_are_iso_utc_with_milliseconds_and_z():
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", now_iso())
    assert iso(datetime(2026, 11, 22, 10, 30, 0, 123456, tzinfo=UTC)) == "2026-11-22T10:30:00.123Z"


def test_join_codes_normalise_from_what_people_type():
    code = new_join_code()
    assert normalise_code(code.lower()) == code
    assert normalise_code(code.replace("-", "")) == code
    assert normalise_code(" " + code.replace("-", " ") + " ") == code
