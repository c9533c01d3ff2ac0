"""Answering one queued bot command, at most once.

For a command (``{"room_id", "message_id", "generation"}``; generation 0 is the first
answer, 1, 2 … its regenerations) this loads the command, the room, its members, the recent
history and its attachments (chat.logic.bot.files), builds what the model sees, and creates
the bot's reply (``status: "streaming"``) in one transaction with the command's reply
attribute of that generation (``reply_id``, ``reply_id_1`` …); then the answer is streamed
(chat.logic.bot.answer). A room without a key (its own, else the stack's shared one) is
answered ``no_api_key``.

Failures of our own infrastructure before the reply exists (DynamoDB, KMS, Secrets
Manager) raise, and the queue retries the command; every read happens before the first
write, so such a failure leaves nothing to clean up. Once the reply exists every failure
ends it in a terminal state; only a failure to store that state raises.

A command that already names its reply of that generation is not answered again: a
redelivery, or a command stopped while it waited in the queue (the stop request wrote its
reply, ``stopped``, so it is skipped at once and the room's next command starts). A reply
still ``streaming`` then belongs to a run that died (Lambda timeout or crash): it is ended
as ``timeout``, or as ``stopped`` if someone asked to stop it (never answered again).
"""

from __future__ import annotations

import time
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit

from chat.adapters import gemini_keys, storage
from chat.config import settings
from chat.dal import messages as message_table
from chat.dal import rooms as room_table
from chat.frames import MessageFrame
from chat.logic.bot import files, limits
from chat.logic.bot.answer import Answer
from chat.logic.bot.context import ModelInput, build_model_input
from chat.logic.bot.reply import new_reply
from chat.models import Message
from chat.observability import logger, metrics

TERMINAL = ("complete", "error", "stopped")
NO_KEY_MESSAGE = (
    "This room has no Gemini API key. The room's owner can add one in the bot settings."
)
INTERRUPTED_MESSAGE = "The answer was interrupted."


def answer_command(command: dict[str, Any], deadline: float) -> dict[str, Any]:
    """Answer one command (at most once) by ``deadline`` (monotonic clock); returns what
    became of it."""
    room_id, command_id = command["room_id"], command["message_id"]
    generation = int(command.get("generation") or 0)
    reply_attribute = message_table.reply_attribute(generation)
    started = time.monotonic()
    item = message_table.get_message(room_id, command_id)
    if item is None or item.get("message_type") != "command" or item.get("deleted"):
        logger.warning("bot command not found or deleted, skipped")
        return {"outcome": "skipped"}
    if item.get(reply_attribute):
        return _already_answered(room_id, command_id, item[reply_attribute])
    room = room_table.get_room(room_id)
    if room is None:
        logger.warning("room of the bot command not found, skipped")
        return {"outcome": "skipped"}
    api_key, room_key = _api_key(room_id, room)
    model = room.get("model") or settings().default_bot_model
    model_input = _model_input(room, item)
    reply = _reply(room_id, command_id, streaming=bool(api_key))
    if not message_table.put_reply(command_id, reply.model_dump(exclude_none=True), generation):
        # Another run, or a stop request, got there first (or the command vanished).
        item = message_table.get_message(room_id, command_id) or {}
        return _already_answered(room_id, command_id, item.get(reply_attribute))
    room_table.touch_last_message(room_id, reply.created_at)
    answer = Answer(room_id, reply.message_id, command_id, started)
    answer.push(MessageFrame.of(reply))
    if not api_key:
        answer.fail("no_api_key", NO_KEY_MESSAGE, stored=True, cause="user")
        return {"outcome": "error", "code": "no_api_key", "reply_id": reply.message_id}
    return answer.stream(
        api_key, model, model_input, deadline, room_key=room_key, room_model=bool(room.get("model"))
    )


def _model_input(room: dict[str, Any], command: dict[str, Any]) -> ModelInput:
    room_id = room["room_id"]
    earlier = message_table.page(room_id, limits.LIMITS.history_messages, command["message_id"])
    history = [*earlier[0], command]
    model_input = build_model_input(
        room_name=room.get("name", ""),
        members=[member["username"] for member in room_table.list_members(room_id)],
        system_prompt=room.get("system_prompt"),
        history=history,
        command=command,
    )
    # The files of the window's messages, read before the first write like the rest.
    return files.attach(model_input, history, storage.read)


def _reply(room_id: str, command_id: str, *, streaming: bool) -> Message:
    return new_reply(room_id, command_id, status="streaming" if streaming else "error")


def _api_key(room_id: str, room: dict[str, Any]) -> tuple[str | None, bool]:
    """The room's own key, else the stack's shared key, else None; and whether it is the
    room's own."""
    ciphertext = room.get("api_key_ciphertext")
    if ciphertext is not None:
        return gemini_keys.decrypt_api_key(room_id, ciphertext), True
    return gemini_keys.shared_gemini_key(), False


def _already_answered(room_id: str, command_id: str, reply_id: str | None) -> dict[str, Any]:
    metrics.add_metric(name="BotCommandsRedelivered", unit=MetricUnit.Count, value=1)
    reply = message_table.get_message(room_id, reply_id) if reply_id else None
    if reply is None or reply.get("status") in TERMINAL:
        logger.info("bot command already answered", extra={"reply_id": reply_id})
        return {"outcome": "duplicate", "reply_id": reply_id}
    # A run died while streaming this reply (Lambda timeout or crash): end it with what its
    # last checkpoint stored; as stopped if someone asked to stop it, else as a timeout.
    logger.warning("ending a bot reply left streaming", extra={"reply_id": reply_id})
    answer = Answer(room_id, reply["message_id"], command_id, time.monotonic())
    content = reply.get("content") or ""
    answer.sent, answer.offset = [content], len(content)
    answer.seq = int(reply.get("stream_seq") or 0)
    if "stop_requested" in reply:
        return {"outcome": answer.end_stopped(), "reply_id": reply_id}
    outcome = answer.fail("timeout", INTERRUPTED_MESSAGE)
    result = {"outcome": outcome, "reply_id": reply_id}
    return {**result, "code": "timeout"} if outcome == "error" else result
