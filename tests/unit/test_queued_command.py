"""The bot queue's message, as its writer (adapters.bot_queue) and its reader (transport.sqs)
share it: the body, the message group and the deduplication id."""

from __future__ import annotations

import json

import pytest

from chat.queued_command import QueuedCommand


def test_a_first_answer_is_the_room_and_the_command_only():
    command = QueuedCommand("r1", "m1")
    assert json.loads(command.body()) == {"room_id": "r1", "message_id": "m1"}
    assert (command.group_id, command.deduplication_id) == ("r1", "m1")


def test_a_regeneration_names_its_generation_and_is_never_a_duplicate_of_the_first():
    command = QueuedCommand("r1", "m1", 2)
    assert json.loads(command.body()) == {"room_id": "r1", "message_id": "m1", "generation": 2}
    assert command.deduplication_id == "m1.2" != QueuedCommand("r1", "m1").deduplication_id


@pytest.mark.parametrize("generation", [0, 1, 7])
def test_the_reader_gets_back_what_the_writer_sent(generation):
    command = QueuedCommand("r1", "m1", generation)
    assert QueuedCommand.from_body(command.body()) == command


@pytest.mark.parametrize("body", ["{}", '{"room_id": "r1"}', "[]", "not json"])
def test_a_body_that_is_no_command_is_refused(body):
    with pytest.raises((KeyError, ValueError, TypeError)):
        QueuedCommand.from_body(body)
