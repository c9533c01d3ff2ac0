"""Deletion meets the bot: a command deleted before its turn is not answered, and a bot
answer the owner deletes while it streams stays a tombstone (the worker's checkpoints and
its final write are conditional on the reply not being deleted)."""

from __future__ import annotations

from chat.dal import message_changes
from chat.dal import messages as message_table
from tests.integration import test_bot_worker as worker_tests
from tests.integration.test_bot_worker import bot_replies, deliver, post, stored

# The worker tests' room with a key (the fake Gemini fixture is in conftest).
keyed_room = worker_tests.keyed_room


def test_a_command_deleted_before_its_turn_is_not_answered(rest, keyed_room, gemini, stack):
    # Given a queued command that its author deletes before the worker gets to it
    room, tokens = keyed_room("alice")
    command = post(rest, room, tokens["alice"], "@bot are you there?")
    deleted = rest.delete(
        f"/rooms/{room['room_id']}/messages/{command['message_id']}", token=tokens["alice"]
    )
    assert deleted.status == 204

    # When the worker receives it
    assert deliver(stack) == []

    # Then the model is never asked and no answer is stored
    assert gemini.requests == []
    assert bot_replies(rest, room, tokens["alice"]) == []


def test_a_streaming_reply_deleted_by_the_owner_is_never_written_again(rest, keyed_room, stack):
    # Given a bot reply that is streaming, with a checkpoint stored
    room, tokens = keyed_room("alice")
    command = post(rest, room, tokens["alice"], "hello")  # any stored message will do
    room_id = room["room_id"]
    reply = {
        "room_id": room_id,
        "message_id": command["message_id"] + "R",
        "username": "bot",
        "content": "",
        "message_type": "bot",
        "is_bot": True,
        "created_at": command["created_at"],
        "reply_to": command["message_id"],
        "status": "streaming",
        "deleted": False,
    }
    assert message_table.put_reply(reply)
    reply_id = reply["message_id"]
    assert message_table.checkpoint(room_id, reply_id, "partial", 1)

    # When the owner deletes it (a tombstone)
    assert message_changes.tombstone(room_id, reply_id) is not None

    # Then the worker's next checkpoint reads as a stop, and no ending overwrites it
    assert not message_table.checkpoint(room_id, reply_id, "partial and more", 2)
    assert message_table.stop_requested(room_id, reply_id)
    for status in ("complete", "error", "stopped"):
        assert not message_table.end_reply(room_id, reply_id, status, "the whole answer")
    item = stored(room_id, reply_id)
    assert item["deleted"] is True and item["content"] == ""
