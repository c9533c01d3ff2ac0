"""The transcript of a bot answer, alone: what the room was sent, each frame's seq and
offset, the final frame, and the size cap on the model's text."""

from __future__ import annotations

import json

import pytest

from chat.logic.bot.coalesce import json_size
from chat.logic.bot.transcript import Transcript


def transcript(max_bytes: int = 1000) -> Transcript:
    return Transcript("r1", "m2", "c1", max_bytes)


def test_frames_number_themselves_and_count_code_points_before_their_chunk():
    answer = transcript()
    frames = [answer.frame(chunk).wire() for chunk in ("hé", "🎉 ok", "!")]
    assert [(f["seq"], f["offset"], f["chunk"]) for f in frames] == [
        (0, 0, "hé"),
        (1, 2, "🎉 ok"),
        (2, 6, "!"),
    ]
    assert all(not f["is_complete"] and "full_response" not in f for f in frames)
    assert answer.text == "hé🎉 ok!"


@pytest.mark.parametrize("stopped", [False, True])
def test_the_final_frame_carries_the_whole_text_after_the_last_chunk(stopped):
    answer = transcript()
    answer.frame("one ")
    answer.frame("two")
    final = answer.final_frame(stopped=stopped).wire()
    assert final == {
        "type": "bot_stream",
        "room_id": "r1",
        "message_id": "m2",
        "reply_to": "c1",
        "username": "bot",
        "chunk": "",
        "is_complete": True,
        "seq": 2,
        "offset": 7,
        "full_response": "one two",
        "stopped": stopped,
        "tool_calls": [],
        "sources": [],
    }


def test_an_error_frame_names_the_reply_and_its_command():
    frame = transcript().error_frame("timeout", "The AI model took too long to answer.")
    assert frame.wire() == {
        "type": "bot_error",
        "room_id": "r1",
        "message_id": "m2",
        "reply_to": "c1",
        "username": "bot",
        "code": "timeout",
        "message": "The AI model took too long to answer.",
    }


def test_text_is_let_in_whole_until_the_cap_then_cut_between_code_points():
    answer = transcript(max_bytes=20)
    assert answer.admit("0123456789") == "0123456789"
    assert not answer.truncated
    cut = answer.admit("abcdé🎉xyz")  # é is 6 bytes as JSON, 🎉 12: only "abcd" and é fit
    assert cut == "abcdé"
    assert answer.truncated
    assert answer.admit("more") == ""
    assert answer.admitted_bytes == json_size("0123456789abcdé") <= 20


@pytest.mark.parametrize("left", [1, 5, 11])
def test_a_character_wider_than_what_is_left_ends_the_text_there(left):
    answer = transcript(max_bytes=10 + left)
    answer.admit("0123456789")
    assert answer.admit("🎉 and more") == ""  # 🎉 is 12 bytes as JSON
    assert answer.truncated and answer.admitted_bytes == 10


def test_the_cap_is_the_json_size_of_the_full_response():
    answer = transcript(max_bytes=64)
    for piece in ['"quoted"\n', "\\", "ünïcödé " * 10]:
        chunk = answer.admit(piece)
        if chunk:
            answer.frame(chunk)
    full = answer.final_frame(stopped=False).wire()["full_response"]
    assert len(json.dumps(full)) - 2 <= 64
    assert answer.truncated


def test_a_resumed_reply_goes_on_from_its_last_checkpoint():
    answer = Transcript.resumed(
        {
            "room_id": "r1",
            "message_id": "m2",
            "reply_to": "c1",
            "username": "bot",
            "content": "half an ans",
            "message_type": "bot",
            "is_bot": True,
            "created_at": "2026-01-01T00:00:00.000Z",
            "stream_seq": 4,
        }
    )
    final = answer.final_frame(stopped=True).wire()
    assert (final["seq"], final["offset"], final["full_response"]) == (4, 11, "half an ans")


def test_a_reply_stopped_before_it_started_ends_with_an_empty_final_frame():
    final = transcript().final_frame(stopped=True).wire()
    assert (final["seq"], final["offset"], final["full_response"], final["stopped"]) == (
        0,
        0,
        "",
        True,
    )
