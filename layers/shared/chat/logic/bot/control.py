"""Bot control (docs/API.md, Bot control): stopping an answer and regenerating one.

**Stop** (``POST …/messages/{id}/stop``, the ``bot_stop`` frame): ``message_id`` is a bot
message or the command that asked for it (then its latest answer: the last regeneration's
or the first). Any member may stop.

- An answer that streams is marked (``stop_requested``, on the condition that it still
  streams). Its worker learns of it at its next checkpoint, at most
  ``AnswerBudget.checkpoint_interval`` later, since the checkpoint is conditional on the mark's
  absence; the worker then closes the model's stream, stores what was sent as ``stopped``
  and sends the one final frame (chat.logic.bot.answer).
- A command whose answer has not started yet (it waits in the room's FIFO queue) is not
  answered at all: this request stores its bot reply, empty and ``stopped``, in the same
  transaction guard the worker uses to start an answer (the command's reply attribute of
  that generation), and sends the ``message`` row and the final frame itself. When the
  command's turn comes the worker finds the reply and skips it at once; if the worker won
  the race, the answer has started and is marked as above.
- An answer that already ended → ``409 conflict``.

**Regenerate** (``POST …/messages/{id}/regenerate``): for a bot message that ended, the
same command is queued again as a new generation (its count on the command, ``generations``)
behind the room's other commands, counted against the bot limits, and answered as a new bot
message with the same ``reply_to``. A command or a person's message → ``422``; an answer
still streaming, or one whose command was deleted → ``409`` (the worker skips a deleted
command, so queueing it would answer ``202`` and then nothing).
"""

from __future__ import annotations

import time

from aws_lambda_powertools.metrics import MetricUnit

from chat.dal import messages as message_table
from chat.dal.items import MessageItem, message_item
from chat.dal.rooms import touch_last_message
from chat.errors import Conflict, NotFound, Unavailable, ValidationFailed
from chat.frames import MessageFrame
from chat.ids import now_iso
from chat.logic import message_view
from chat.logic.access import require_member, room_or_404
from chat.logic.bot import roster
from chat.logic.bot.intake import check_bot_limits, queue
from chat.logic.bot.reply import command_bot, reply_to
from chat.logic.bot.transcript import Transcript
from chat.observability import metrics
from chat.principal import Principal
from chat.queued_command import QueuedCommand

_DELETED_COMMAND = "The command of this answer was deleted; it cannot be answered again"


def stop_answer(principal: Principal, room_id: str, message_id: str) -> None:
    """Stop the answer named by a bot message or its command (see the module's doc)."""
    require_member(room_id, principal.user_id)
    item = _message(room_id, message_id, principal.username)
    kind = item.get("message_type")
    if kind == "command":
        reply = _latest_reply(room_id, item)
        if reply is None:
            return  # stopped before it started
    elif kind == "bot":
        reply = item
    else:
        raise ValidationFailed(
            "Only the bot's answers and bot commands can be stopped",
            details=[{"field": "message_id", "message": "not a bot answer or a bot command"}],
        )
    if reply.get("status") != "streaming" or not message_table.request_stop(
        room_id, reply["message_id"], now_iso()
    ):
        raise Conflict("This answer has already ended")
    metrics.add_metric(name="BotStopsRequested", unit=MetricUnit.Count, value=1)


def regenerate(principal: Principal, room_id: str, message_id: str) -> str:
    """Queue the command of an ended bot answer again; returns the command's id."""
    require_member(room_id, principal.user_id)
    item = _message(room_id, message_id, principal.username)
    if item.get("message_type") != "bot":
        raise ValidationFailed(
            "Only the bot's answers can be regenerated",
            details=[{"field": "message_id", "message": "not a bot answer"}],
        )
    if item.get("status") == "streaming":
        raise Conflict("This answer is still being written")
    command_id = str(item.get("reply_to") or "")
    command = message_table.get_message(room_id, command_id) if command_id else None
    if command is None or command.get("message_type") != "command":
        raise NotFound("The command of this answer no longer exists")
    if command.get("deleted"):  # before the limits: a refused request costs nothing
        raise Conflict(_DELETED_COMMAND)
    room = room_or_404(room_id)
    if roster.find(room, command_bot(command)) is None:  # the worker would not answer it
        raise Conflict("The bot of this answer was removed from the room")
    check_bot_limits(principal, room_id)
    # Conditional on the command not being deleted meanwhile: the worker would skip it.
    generation = message_table.next_generation(room_id, command_id)
    if generation is None:
        raise Conflict(_DELETED_COMMAND)
    if not queue(QueuedCommand(room_id, command_id, generation)):
        raise Unavailable("The bot is unavailable right now; try again later")
    metrics.add_metric(name="BotRegenerationsQueued", unit=MetricUnit.Count, value=1)
    return command_id


def _message(room_id: str, message_id: str, viewer: str) -> MessageItem:
    item = message_table.get_message(room_id, message_id)
    if item is None or not message_view.visible(item, viewer):
        raise NotFound("Message not found")
    return item


def _latest_reply(room_id: str, command: MessageItem) -> MessageItem | None:
    """The reply of the command's latest generation; None when this request stopped it
    before it started (its stopped reply stored and announced here)."""
    command_id = command["message_id"]
    generation = int(command.get("generations") or 0)
    reply_id = message_table.reply_id(command, generation)
    if reply_id is None:
        if command.get("status") == "error":  # never queued: no answer is coming
            raise Conflict("This command has no answer to stop")
        if _stop_before_start(command, generation):
            return None
        # The worker started the answer meanwhile: stop that one.
        reply_id = message_table.reply_id(
            message_table.get_message(room_id, command_id), generation
        )
    reply = message_table.get_message(room_id, reply_id) if reply_id else None
    if reply is None:
        raise Conflict("This command has no answer to stop")
    return reply


def _stop_before_start(command: MessageItem, generation: int) -> bool:
    """Store the command's reply of this generation as stopped and empty, unless the
    worker started it first (False); announce its row, then end it as every answer ends."""
    room_id = command["room_id"]
    reply = reply_to(command, status="stopped")
    if not message_table.put_reply(message_item(reply), generation):
        return False
    touch_last_message(room_id, reply.created_at)
    # The answer's ending is the worker's code: loaded here, when it is needed (rarely),
    # not by every cold start of the REST and WebSocket functions (~10 ms).
    from chat.logic.bot.ending import end_answer
    from chat.logic.bot.room_feed import RoomFeed

    feed = RoomFeed(Transcript.of_reply(reply), started=time.monotonic())
    feed.push(MessageFrame.of(reply), urgent=True)
    end_answer(feed, "stopped", stored=True)
    metrics.add_metric(name="BotCommandsStoppedQueued", unit=MetricUnit.Count, value=1)
    return True
