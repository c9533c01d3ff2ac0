"""Answering one queued bot command, at most once.

For a command (chat.queued_command; generation 0 is the first answer, 1, 2 … its
regenerations) this loads the command, the room and the bot it names (chat.logic.bot.roster;
a bot removed meanwhile: the command is skipped), its members, the recent history, the
chain the command replies to and its attachments (chat.logic.bot.files), or for a summary
the messages since its `since` (chat.logic.bot.summary), builds what the model sees, and creates
the bot's reply (``status: "streaming"``) in one transaction with the command's reply
attribute of that generation (``reply_id``, ``reply_id_1`` …); then the answer is streamed
(chat.logic.bot.answer), with the bot's tools. A bot without a key (its own, else the
default bot's, else the stack's shared one) is answered ``no_api_key``; a bot that has used its monthly token budget
``budget_exceeded``; neither calls the model.

Failures of our own infrastructure before the reply exists (DynamoDB, KMS, Secrets
Manager) raise, and the queue retries the command; every read happens before the first
write, so such a failure leaves nothing to clean up. Once the reply exists every failure
ends it in a terminal state; only a failure to store that state raises.

A command that already names its reply of that generation is not answered again: a
redelivery, or a command stopped while it waited in the queue (the stop request wrote its
reply, ``stopped``, so it is skipped at once and the room's next command starts). A reply
still ``streaming`` then belongs to a run that died (Lambda timeout or crash): it is ended
(``Answer.resume``) as ``timeout``, or as ``stopped`` if someone asked to stop it (never
answered again).
"""

from __future__ import annotations

import time

from aws_lambda_powertools.metrics import MetricUnit

from chat.adapters import gemini_keys, storage
from chat.dal import messages as message_table
from chat.dal import rooms as room_table
from chat.dal.items import MessageItem, RoomItem, message_item
from chat.ids import now_iso
from chat.logic.bot import budget, files, roster, summary, usage
from chat.logic.bot.answer import Answer, Result
from chat.logic.bot.context import MAX_CHAIN, ModelInput, build_model_input
from chat.logic.bot.failures import Failure
from chat.logic.bot.reply import command_bot, reply_to
from chat.logic.bot.roster import BotProfile
from chat.models import MessageStatus
from chat.observability import logger, metrics
from chat.queued_command import QueuedCommand

TERMINAL = ("complete", "error", "stopped")
NO_KEY_MESSAGE = (
    "This room has no Gemini API key. The room's owner can add one in the bot settings."
)
INTERRUPTED_MESSAGE = "The answer was interrupted."


def answer_command(command: QueuedCommand, deadline: float) -> Result:
    """Answer one command (at most once) by ``deadline`` (monotonic clock); returns what
    became of it."""
    started = time.monotonic()
    item = message_table.get_message(command.room_id, command.message_id)
    if item is None or item["message_type"] != "command" or item.get("deleted"):
        logger.warning("bot command not found or deleted, skipped")
        return {"outcome": "skipped"}
    reply_id = message_table.reply_id(item, command.generation)
    if reply_id:
        return _already_answered(command, reply_id)
    room = room_table.get_room(command.room_id)
    bot = roster.find(room, command_bot(item)) if room is not None else None
    if room is None or bot is None:
        logger.warning("room or bot of the command not found (removed), skipped")
        return {"outcome": "skipped"}
    api_key, own_key = _api_key(room, bot)
    model_input = _model_input(room, bot, item)  # every read before the first write
    refusal = _refusal(room["room_id"], bot, api_key)
    status: MessageStatus = "error" if refusal else "streaming"
    reply = reply_to(item, status=status)
    if not message_table.put_reply(message_item(reply), command.generation):
        # Another run, or a stop request, got there first (or the command vanished).
        item = message_table.get_message(command.room_id, command.message_id)
        return _already_answered(command, message_table.reply_id(item, command.generation))
    room_table.touch_last_message(command.room_id, reply.created_at)
    answer = Answer.start(reply, started)
    if refusal or not api_key:
        return answer.end("error", refusal, stored=True)
    answer.use_tools(bot.tools, item)
    return answer.stream(
        api_key, bot.model, model_input, deadline, room_key=own_key, room_model=bot.own_model
    )


def _model_input(room: RoomItem, bot: BotProfile, command: MessageItem) -> ModelInput:
    room_id = room["room_id"]
    after = command.get("summary_after")
    if after is not None:  # a summary: the messages since its `since`, up to 1,000
        found = message_table.newest_between(
            room_id, after, command["message_id"], summary.MAX_MESSAGES
        )
        return summary.model_input(room.get("name", ""), command, found)
    earlier = message_table.page(room_id, budget.BUDGET.history_messages, command["message_id"])
    history = [*earlier[0], command]
    chain = _reply_chain(room_id, command, history)
    model_input = build_model_input(
        room_name=room.get("name", ""),
        members=[member["username"] for member in room_table.list_members(room_id)],
        system_prompt=bot.system_prompt,
        history=history,
        command=command,
        bot=bot.name,
        bots=[other.name for other in roster.profiles(room)],
        chain=chain,
    )
    # The files of the window's messages, read before the first write like the rest.
    return files.attach(model_input, [*chain, *history], storage.read)


def _reply_chain(
    room_id: str, command: MessageItem, loaded: list[MessageItem]
) -> list[MessageItem]:
    """The messages the command replies to, up the chain (at most ``MAX_CHAIN``), newest
    first; those the recent history holds are not read again."""
    known = {item["message_id"]: item for item in loaded}
    chain: list[MessageItem] = []
    next_id = command.get("reply_to")
    while next_id and len(chain) < MAX_CHAIN and next_id not in {m["message_id"] for m in chain}:
        found = known.get(next_id) or message_table.get_message(room_id, next_id)
        if found is None:
            break
        chain.append(found)
        next_id = found.get("reply_to")
    return chain


def _refusal(room_id: str, bot: BotProfile, api_key: str | None) -> Failure | None:
    """Why the bot will not call the model for this command, if it will not: no key, or
    its monthly token budget used up."""
    if not api_key:
        return Failure("no_api_key", NO_KEY_MESSAGE, "user")
    if usage.over_budget(room_id, bot.name, bot.monthly_token_budget, now_iso()):
        metrics.add_metric(name="BotBudgetRefusals", unit=MetricUnit.Count, value=1)
        return Failure("budget_exceeded", usage.BUDGET_EXCEEDED, "user")
    return None


def _api_key(room: RoomItem, bot: BotProfile) -> tuple[str | None, bool]:
    """The bot's own key, else the default bot's, else the stack's shared key, else None;
    and whether it is the room's (its own or its default bot's)."""
    own = bot.config.get("api_key_ciphertext")
    if own is not None and not bot.is_default:
        return gemini_keys.decrypt_api_key(room["room_id"], own, bot.key), True
    ciphertext = room.get("api_key_ciphertext")
    if ciphertext is not None:
        return gemini_keys.decrypt_api_key(room["room_id"], ciphertext), True
    return gemini_keys.shared_gemini_key(), False


def _already_answered(command: QueuedCommand, reply_id: str | None) -> Result:
    metrics.add_metric(name="BotCommandsRedelivered", unit=MetricUnit.Count, value=1)
    reply = message_table.get_message(command.room_id, reply_id) if reply_id else None
    if reply is None or reply.get("status") in TERMINAL:
        logger.info("bot command already answered", extra={"reply_id": reply_id})
        return {"outcome": "duplicate", "reply_id": reply_id}
    # A run died while streaming this reply: end it with what its last checkpoint stored;
    # as stopped if someone asked to stop it, else as a timeout.
    logger.warning("ending a bot reply left streaming", extra={"reply_id": reply_id})
    answer = Answer.resume(reply)
    if "stop_requested" in reply:
        return answer.end("stopped")
    return answer.end("error", Failure("timeout", INTERRUPTED_MESSAGE, "operator"))
