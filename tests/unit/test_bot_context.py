"""What the model is given for a command: the window of history, the turns, the system
instruction."""

from __future__ import annotations

import itertools
from typing import Any

import pytest

from chat.logic.bot.context import (
    FAILED_MARK,
    ModelInput,
    Turn,
    build_model_input,
    system_instruction,
)

_ids = itertools.count(1)


def message(username: str, content: str, **fields: Any) -> dict[str, Any]:
    number = next(_ids)
    is_bot = username == "bot"
    return {
        "message_id": f"01M{number:08d}",
        "room_id": "r1",
        "username": username,
        "content": content,
        "message_type": "bot" if is_bot else "text",
        "is_bot": is_bot,
        "created_at": f"2026-11-22T10:00:{number % 60:02d}.000Z",
        "client_id": None,
        "reply_to": None,
        "status": "complete",
        **fields,
    }


def command(username: str, content: str) -> dict[str, Any]:
    return message(username, content, message_type="command")


def build(history, cmd, **kwargs) -> ModelInput:
    kwargs.setdefault("room_name", "Trip planning")
    kwargs.setdefault("members", ["alice", "bob", "bot"])
    kwargs.setdefault("system_prompt", None)
    return build_model_input(history=history, command=cmd, **kwargs)


def test_people_are_attributed_user_turns_and_the_bot_answers_model_turns():
    hello = message("alice", "hi all")
    question = command("bob", "@bot where should we go?")
    answer = message("bot", "Lisbon is lovely in spring.", reply_to=question["message_id"])
    cmd = command("alice", "@bot and for food?")

    result = build([hello, question, answer, cmd], cmd)

    assert result.contents == (
        Turn("user", "alice: hi all\nbob: @bot where should we go?"),
        Turn("model", "Lisbon is lovely in spring."),
        Turn("user", "alice: @bot and for food?"),
    )


def test_the_command_is_last_even_when_the_history_does_not_hold_it():
    earlier = message("alice", "hello")
    cmd = command("bob", "@bot hi")

    result = build([earlier], cmd)

    assert result.contents == (Turn("user", "alice: hello\nbob: @bot hi"),)


def test_history_is_ordered_by_message_id_and_deduplicated():
    a, b, c = message("alice", "one"), message("bob", "two"), message("alice", "three")
    cmd = command("bob", "@bot count")

    result = build([c, a, cmd, b, a], cmd)

    assert result.contents == (Turn("user", "alice: one\nbob: two\nalice: three\nbob: @bot count"),)


def test_messages_stored_after_the_command_are_not_shown():
    cmd = command("alice", "@bot first question")
    later = message("bob", "a later message")
    later_answer = message("bot", "streaming…", status="streaming")

    result = build([cmd, later, later_answer], cmd)

    assert result.contents == (Turn("user", "alice: @bot first question"),)


@pytest.mark.parametrize("typed", ["/bot what now", "@BOT what now", "/Bot what now"])
def test_the_trigger_is_written_as_at_bot_whatever_was_typed(typed: str):
    cmd = command("alice", typed)

    result = build([], cmd)

    assert result.contents == (Turn("user", "alice: @bot what now"),)


def test_streaming_and_empty_messages_are_skipped():
    cmd_old = command("alice", "@bot tell me")
    stale = message("bot", "Still going", status="streaming")
    empty = message("bot", "")
    blank = message("bob", "   ")
    cmd = command("alice", "@bot again")

    result = build([cmd_old, stale, empty, blank, cmd], cmd)

    assert result.contents == (Turn("user", "alice: @bot tell me\nalice: @bot again"),)


def test_a_failed_answer_stays_as_a_failed_model_turn_so_commands_do_not_merge():
    cmd_old = command("alice", "@bot tell me")
    failed = message("bot", "", status="error")
    cmd = command("alice", "@bot again")

    result = build([cmd_old, failed, cmd], cmd)

    assert result.contents == (
        Turn("user", "alice: @bot tell me"),
        Turn("model", FAILED_MARK),
        Turn("user", "alice: @bot again"),
    )


def test_a_failed_answer_keeps_what_was_streamed_before_it_failed():
    cmd_old = command("alice", "@bot tell me")
    failed = message("bot", "Half an ans", status="error")
    cmd = command("alice", "@bot again")

    result = build([cmd_old, failed, cmd], cmd)

    assert result.contents[1] == Turn("model", f"Half an ans\n{FAILED_MARK}")


def test_the_window_keeps_the_most_recent_messages_by_count():
    history = [message("alice", f"m{i}") for i in range(10)]
    cmd = command("bob", "@bot sum up")

    result = build([*history, cmd], cmd, max_messages=4)

    assert result.contents == (Turn("user", "alice: m7\nalice: m8\nalice: m9\nbob: @bot sum up"),)


def test_the_window_keeps_the_most_recent_messages_by_characters():
    history = [message("alice", "x" * 10) for _ in range(5)]  # "alice: " + 10 = 17 chars
    cmd = command("bob", "@bot hi")  # "bob: @bot hi" = 12 chars

    result = build([*history, cmd], cmd, max_chars=12 + 17 * 2 + 16)

    assert result.contents == (
        Turn("user", "\n".join(["alice: " + "x" * 10] * 2 + ["bob: @bot hi"])),
    )


def test_the_window_stays_contiguous_past_a_message_too_big_to_fit():
    old = message("alice", "old and short")
    big = message("bob", "y" * 500)
    recent = message("alice", "recent")
    cmd = command("alice", "@bot go")

    result = build([old, big, recent, cmd], cmd, max_chars=100)

    assert result.contents == (Turn("user", "alice: recent\nalice: @bot go"),)


def test_the_command_is_kept_even_alone_over_the_budget():
    cmd = command("alice", "@bot " + "z" * 300)

    result = build([message("bob", "hi")], cmd, max_chars=50, max_messages=1)

    assert result.contents == (Turn("user", "alice: @bot " + "z" * 300),)


def test_skipped_messages_do_not_use_up_the_count():
    history = [message("alice", "kept"), message("bot", "", status="streaming")]
    cmd = command("bob", "@bot hm")

    result = build([*history, cmd], cmd, max_messages=2)

    assert result.contents == (Turn("user", "alice: kept\nbob: @bot hm"),)


def test_contents_start_with_a_user_turn_and_alternate():
    first_answer = message("bot", "An answer whose question fell out of the window")
    a, b = message("alice", "a"), message("bob", "b")
    answer = message("bot", "reply")
    answer2 = message("bot", "more")
    cmd = command("alice", "@bot again")

    result = build([first_answer, a, b, answer, answer2, cmd], cmd)

    roles = [turn.role for turn in result.contents]
    assert roles == ["user", "model", "user"]
    assert result.contents[1] == Turn("model", "reply\nmore")


def test_the_system_instruction_names_the_bot_the_room_and_the_people():
    text = system_instruction("Trip planning", ["alice", "bot", "bob", "alice"], None)

    assert '"bot"' in text
    assert '"Trip planning"' in text
    assert "alice, bob." in text
    assert "concise" in text
    assert "owner" not in text


def test_the_rooms_system_prompt_comes_last():
    cmd = command("alice", "@bot hi")

    result = build([], cmd, system_prompt="  Always answer like a pirate.  ")

    assert result.system_instruction.endswith("Always answer like a pirate.")
    assert result.system_instruction.startswith("You are")


def test_a_blank_system_prompt_adds_nothing():
    assert system_instruction("R", ["alice"], "   ") == system_instruction("R", ["alice"], None)


def test_a_long_member_list_is_shortened():
    text = system_instruction("Big", [f"user{i}" for i in range(80)], None)

    assert "user49" in text
    assert "user50" not in text
    assert "and 30 others" in text
