"""Answering one queued bot command, at most once.

For a command (``{"room_id", "message_id"}``) this loads the command, the room, its
members, the recent history and its attachments (chat.logic.bot.files), builds what the
model sees, and creates the bot's reply (``status: "streaming"``) in one transaction with
the command's ``reply_id``; then the answer is streamed (chat.logic.bot.answer). A room
without a key (its own, else the stack's shared one) is answered ``no_api_key``.

Failures of our own infrastructure before the reply exists (DynamoDB, KMS, Secrets
Manager) raise, and the queue retries the command; every read happens before the first
write, so such a failure leaves nothing to clean up. Once the reply exists every failure
ends it in a terminal state; only a failure to store that state raises.

A command that already names its reply (``reply_id``) is not answered again. A reply
still ``streaming`` then belongs to a run that died (Lambda timeout or crash): it is ended
as ``timeout``.
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
from chat.ids import new_id, now_iso
from chat.logic.bot import files, limits
from chat.logic.bot.answer import Answer
from chat.logic.bot.context import ModelInput, build_model_input
from chat.models import BOT_USERNAME, Message
from chat.observability import logger, metrics

TERMINAL = ("complete", "error")
NO_KEY_MESSAGE = (
    "This room has no Gemini API key. The room's owner can add one in the bot settings."
)
INTERRUPTED_MESSAGE = "The answer was interrupted."


def answer_command(command: dict[str, str], deadline: float) -> dict[str, Any]:
    """Answer one command (at most once) by ``deadline`` (monotonic clock); returns what
    became of it."""
    room_id, command_id = command["room_id"], command["message_id"]
    started = time.monotonic()
    item = message_table.get_message(room_id, command_id)
    if item is None or item.get("message_type") != "command":
        logger.warning("bot command not found, skipped")
        return {"outcome": "skipped"}
    if item.get("reply_id"):
        return _already_answered(room_id, command_id, item["reply_id"])
    room = room_table.get_room(room_id)
    if room is None:
        logger.warning("room of the bot command not found, skipped")
        return {"outcome": "skipped"}
    api_key = _api_key(room_id, room)
    model = room.get("model") or settings().default_bot_model
    model_input = _model_input(room, item)
    reply = _reply(room_id, command_id, streaming=bool(api_key))
    if not message_table.put_reply(command_id, reply.model_dump(exclude_none=True)):
        # Another run got there first (or the command vanished): read what it left.
        item = message_table.get_message(room_id, command_id) or {}
        return _already_answered(room_id, command_id, item.get("reply_id"))
    room_table.touch_last_message(room_id, reply.created_at)
    answer = Answer(room_id, reply.message_id, command_id, started)
    answer.push(MessageFrame.of(reply))
    if not api_key:
        answer.fail("no_api_key", NO_KEY_MESSAGE, stored=True)
        return {"outcome": "error", "code": "no_api_key", "reply_id": reply.message_id}
    return answer.stream(api_key, model, model_input, deadline)


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
    return Message(
        message_id=new_id(),
        room_id=room_id,
        username=BOT_USERNAME,
        content="",
        message_type="bot",
        is_bot=True,
        created_at=now_iso(),
        reply_to=command_id,
        status="streaming" if streaming else "error",
    )


def _api_key(room_id: str, room: dict[str, Any]) -> str | None:
    """The room's own key, else the stack's shared key, else None."""
    ciphertext = room.get("api_key_ciphertext")
    if ciphertext is not None:
        return gemini_keys.decrypt_api_key(room_id, ciphertext)
    return gemini_keys.shared_gemini_key()


def _already_answered(room_id: str, command_id: str, reply_id: str | None) -> dict[str, Any]:
    metrics.add_metric(name="BotCommandsRedelivered", unit=MetricUnit.Count, value=1)
    reply = message_table.get_message(room_id, reply_id) if reply_id else None
    if reply is None or reply.get("status") in TERMINAL:
        logger.info("bot command already answered", extra={"reply_id": reply_id})
        return {"outcome": "duplicate", "reply_id": reply_id}
    # A run died while streaming this reply (Lambda timeout or crash): end it.
    logger.warning("ending a bot reply left streaming", extra={"reply_id": reply_id})
    answer = Answer(room_id, reply["message_id"], command_id, time.monotonic())
    answer.received = [reply.get("content") or ""]
    answer.fail("timeout", INTERRUPTED_MESSAGE)
    return {"outcome": "error", "code": "timeout", "reply_id": reply_id}
