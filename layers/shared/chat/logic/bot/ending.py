"""The one way a bot answer ends, whatever ends it (the model's last piece, an error, a stop,
or the clean-up of a run that died): a conditional write of its terminal state, then the one
last frame, the bot's typing off, and the answer's metrics.

Every terminal write is conditional (chat.dal.messages.end_reply), so a stop racing the
natural end, an error or a dead run's clean-up ends the answer exactly once, and only the
ending whose write succeeded sends the last frame: an answer asked to stop ends ``stopped``
whatever else happened (``complete`` and ``error`` are refused once a stop was asked).

The terminal write also stores the answer's usage, tool calls and sources, and counts its
usage for the bot's month (``charge``) in the same transaction: an answer is counted
exactly when it ends.
"""

from __future__ import annotations

from typing import Any, Literal

from aws_lambda_powertools.metrics import MetricUnit, single_metric

from chat.dal import messages as message_table
from chat.dal.items import SourceItem, ToolCallItem
from chat.logic.bot.failures import Failure
from chat.logic.bot.room_feed import RoomFeed, ms_metric
from chat.logic.bot.transcript import Transcript
from chat.logic.bot.usage import Tokens
from chat.observability import logger, metrics

Status = Literal["complete", "error", "stopped"]
# What became of an answer: its terminal state, or "duplicate" when it had ended elsewhere.
Outcome = Literal["complete", "error", "stopped", "duplicate"]


def end_answer(
    feed: RoomFeed,
    status: Status,
    failure: Failure | None = None,
    *,
    stored: bool = False,
    checkpoint_writes: int = 0,
    tokens: Tokens | None = None,
    charge: dict[str, Any] | None = None,
) -> Outcome:
    """End the answer as ``status`` (``error`` with its ``failure``); ``stored``: the
    reply was created in that state, nothing is left to write. A refused write means a stop
    was asked (the answer then ends stopped) or it ended elsewhere (nothing is sent).
    ``tokens``: the answer's usage; ``charge``: the write that counts it."""
    transcript = feed.transcript
    if not stored and not message_table.end_reply(
        transcript.room_id,
        transcript.message_id,
        status,
        transcript.text,
        _result(transcript, tokens),
        [charge] if charge else (),
    ):
        if status != "stopped":
            return end_answer(
                feed, "stopped", checkpoint_writes=checkpoint_writes, tokens=tokens, charge=charge
            )
        logger.warning(
            "bot reply already ended elsewhere", extra={"reply_id": transcript.message_id}
        )
        _typing_off(feed)
        return "duplicate"
    if failure is not None:
        feed.push(transcript.error_frame(failure.code, failure.message))
    else:
        feed.push(transcript.final_frame(stopped=status == "stopped"))
    _typing_off(feed)
    _metrics(feed, status, failure, checkpoint_writes)
    return status


def _result(transcript: Transcript, tokens: Tokens | None) -> message_table.ReplyResult:
    """What the reply stores besides its text (only what it has)."""
    result = message_table.ReplyResult()
    if tokens is not None and tokens.reported:
        result["usage"] = {"input_tokens": tokens.input, "output_tokens": tokens.output}
    if transcript.tool_calls:
        result["tool_calls"] = [
            ToolCallItem(tool=call.tool, query=call.query) for call in transcript.tool_calls
        ]
    if transcript.sources:
        result["sources"] = [
            SourceItem(title=source.title, url=source.url) for source in transcript.sources
        ]
    return result


def _typing_off(feed: RoomFeed) -> None:
    if feed.typing:
        feed.set_typing(False)


def _metrics(
    feed: RoomFeed, status: Status, failure: Failure | None, checkpoint_writes: int
) -> None:
    if status == "complete":
        if feed.transcript.truncated:
            logger.warning(
                "bot answer cut at the size cap", extra={"bytes": feed.transcript.admitted_bytes}
            )
            metrics.add_metric(name="BotAnswersTruncated", unit=MetricUnit.Count, value=1)
        metrics.add_metric(name="BotAnswers", unit=MetricUnit.Count, value=1)
    elif status == "stopped":
        metrics.add_metric(name="BotAnswersStopped", unit=MetricUnit.Count, value=1)
    elif failure is not None:
        # `cause`: who must act (chat.logic.bot.failures); only the operator's is alarmed.
        metrics.add_metric(name="BotErrors", unit=MetricUnit.Count, value=1)
        with single_metric(
            name="BotErrorsByCode",
            unit=MetricUnit.Count,
            value=1,
            default_dimensions=metrics.default_dimensions,
        ) as metric:
            metric.add_dimension(name="code", value=failure.code)
            metric.add_dimension(name="cause", value=failure.cause)
    ms_metric("BotAnswerDuration", feed.started)
    metrics.add_metric(name="BotCheckpointWrites", unit=MetricUnit.Count, value=checkpoint_writes)
    metrics.add_metric(name="BotChunksPushed", unit=MetricUnit.Count, value=feed.chunks)
    metrics.add_metric(name="BotFramesPushed", unit=MetricUnit.Count, value=feed.frames)
