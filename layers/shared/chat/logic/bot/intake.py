"""A new bot command, on the API side: which bot a message is a command for, the rate limits
it counts against (per user and room, per user across rooms, per room:
chat.logic.rate_limits) and its hand-over to the worker through the bot queue. A
regeneration counts and is queued alike (chat.logic.bot.control)."""

from __future__ import annotations

from aws_lambda_powertools.metrics import MetricUnit

from chat.adapters import bot_queue
from chat.dal import messages as message_table
from chat.dal.items import MessageItem
from chat.dal.rooms import get_room
from chat.errors import Unavailable
from chat.frames import MessageUpdatedFrame
from chat.logic import rate_limits
from chat.logic.bot import roster
from chat.logic.realtime import presence
from chat.models import BOT_USERNAME, Message, addressed_name
from chat.observability import logger, metrics
from chat.principal import Principal
from chat.queued_command import QueuedCommand


def addressee(room_id: str, content: str, replied: MessageItem | None) -> str | None:
    """The name of the bot a new message is a command for (`bot`: the default one), or None
    for a plain message. The room is read only when a bot of its own could be meant: an
    `@name` other than `@bot`, or a reply to a bot's answer (`answers_replies`)."""
    name = addressed_name(content)
    if name == BOT_USERNAME:
        return BOT_USERNAME
    if name is None and (replied is None or replied.get("message_type") != "bot"):
        return None
    room = get_room(room_id)
    bot = roster.addressed(room, content, replied) if room is not None else None
    return bot.name if bot is not None else None


def check_bot_limits(principal: Principal, room_id: str) -> None:
    """Count one bot command; RateLimited when any of its limits is used up."""
    rate_limits.hit(rate_limits.BOT_COMMANDS_PER_USER_AND_ROOM, principal.user_id, room_id)
    rate_limits.hit(rate_limits.BOT_COMMANDS_PER_USER, principal.user_id)
    rate_limits.hit(rate_limits.BOT_COMMANDS_PER_ROOM, room_id)


def queue(command: QueuedCommand) -> bool:
    """Queue a command for the worker; False (logged and counted) when the queue refused."""
    try:
        bot_queue.enqueue(command)
    except Exception:
        logger.exception("could not queue a bot command", extra=command.log_keys())
        metrics.add_metric(name="BotCommandsNotQueued", unit=MetricUnit.Count, value=1)
        return False
    return True


def hand_over(command: Message) -> None:
    """Queue a stored command for the worker. If the queue refuses it, it is marked failed,
    never silently lost: stored as ``error``, shown so to the room (``message_updated``),
    and Unavailable is raised for the sender."""
    if queue(QueuedCommand(command.room_id, command.message_id)):
        metrics.add_metric(name="BotCommandsQueued", unit=MetricUnit.Count, value=1)
        return
    message_table.mark_failed(command.room_id, command.message_id)
    failed = command.model_copy(update={"status": "error"})
    presence.send_to_room(
        command.room_id, MessageUpdatedFrame.of(failed), only_username=command.visible_to
    )
    raise Unavailable(
        "The bot is unavailable right now; your command was stored but will not be answered"
    )
