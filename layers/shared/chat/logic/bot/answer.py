"""One bot answer, from its first frame to its end: the model's answer streamed to the room's
subscribers as ``bot_stream`` chunks and stored when it ends: ``complete``, ``stopped``, or
``error`` with what was streamed so far and a ``bot_error`` frame.

Its parts: the ``Transcript`` (the text sent, seq, offset, the size cap), the ``RoomFeed``
(pushes and typing), the ``AnswerReader`` (the model's streams into the room through the
coalescer, and the ticker), and ``end_answer`` (the one ending). ``Answer`` holds them and
the two rules that are its own: checkpoints and retries.

Checkpoints: while the answer streams, the reader's ticker runs ``checkpoint`` every
``AnswerBudget.checkpoint_interval`` (1 s). When text was sent since the last one, the
stored message's ``content`` becomes the text sent so far, in a write conditional on nobody
having asked to stop; otherwise (the model pauses, or a retry's backoff) one read asks the
same. A failed condition is a stop request: the stream is aborted (no more tokens read),
what was buffered is sent, and the answer ends ``stopped``. Writes per answer: at most one
checkpoint per second while text arrives (at most 90 at the 90 s cap), plus the reply's
creation and its end.

Tools (chat.logic.bot.tools): an answer whose bot has tools may take several model requests
(rounds): a round that ends with function calls (room searches) is followed by one that
carries their results, until a round answers, at most ``tools.MAX_ROUNDS``. Every round's
text streams into the same transcript under the same rules; retries are per round.

Usage (chat.logic.bot.usage): the tokens every request reported, summed, are stored on the
reply and counted for the bot's month in the same write that ends the answer.

Retries: model failures are *answered* (``bot_error``: ``rate_limited``, ``model_error``,
``timeout``); transient ones are retried first, with a short backoff, under one rule
(``retry_wait``): the error is ``retryable`` (transient, and no text of it was handed out:
a retry after that would show text twice), attempts and time are left, and a rate limit
does not ask to wait longer than ``AnswerBudget.max_retry_wait``. The model is asked for at
most ``AnswerBudget.max_output_tokens`` tokens (thinking models count their thoughts in that
budget, hence the generous figure).

The last chance: the answer must end before Lambda ends the invocation, or its message stays
``streaming`` until the queue delivers the command again (the queue's visibility timeout,
12 minutes; ``chat.logic.bot.command`` then ends it). Its deadline leaves
``AnswerBudget.margin`` for the end; should a call hang past even that (DynamoDB or the
management API not answering), a timer ends the answer ``timeout`` with what was sent,
``AnswerBudget.last_chance`` seconds before the invocation's end. ``end`` runs once, whoever
calls it first; the run, when it comes back, sends nothing more (the failed checkpoint of an
ended answer, or its next chunk, stops it).

The API key is only handed to chat.adapters.gemini; it is never logged, pushed or stored.
Unexpected exceptions are logged by type and code location only.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any, Literal, NotRequired, TypedDict

from aws_lambda_powertools.metrics import MetricUnit

from chat.adapters import gemini
from chat.config import settings
from chat.dal import messages as message_table
from chat.dal.items import MessageItem
from chat.frames import MessageFrame
from chat.logic.bot import budget, failures, usage
from chat.logic.bot.context import ModelInput
from chat.logic.bot.ending import Outcome, Status, end_answer
from chat.logic.bot.failures import Failure
from chat.logic.bot.reader import AnswerReader
from chat.logic.bot.room_feed import RoomFeed, log_unexpected
from chat.logic.bot.tools import MAX_ROUNDS, ToolRun
from chat.logic.bot.transcript import Transcript
from chat.models import Message, Tool
from chat.observability import logger, metrics


class StopRequested(Exception):
    """Someone asked to stop the answer (its checkpoint's condition failed)."""


class Result(TypedDict):
    """What became of a command (the worker's result, kept by its idempotency records)."""

    outcome: Outcome | Literal["skipped"]  # skipped: nothing to answer
    reply_id: NotRequired[str | None]
    code: NotRequired[str]  # the bot_error code, with outcome "error"


TIMED_OUT_MESSAGE = "The answer took too long and was cut off."


class Answer:
    def __init__(self, transcript: Transcript, started: float, created_at: str):
        self.transcript = transcript
        self.feed = RoomFeed(transcript, started)
        self.saved = len(transcript.text)  # code points stored by the last checkpoint
        self.checkpoint_writes = 0
        self.created_at = created_at  # the reply's: its usage counts in that month
        self.bot = transcript.username  # whose usage it is
        self.tokens = usage.Tokens()
        self.tools: ToolRun | None = None
        self._ending = threading.Lock()
        self._result: Result | None = None  # once ended

    @classmethod
    def start(cls, reply: Message, started: float) -> Answer:
        """The answer of a reply just stored: the room is shown its message row."""
        transcript = Transcript.of_reply(reply, budget.BUDGET.max_answer_bytes)
        answer = cls(transcript, started, reply.created_at)
        answer.feed.push(MessageFrame.of(reply))
        return answer

    @classmethod
    def resume(cls, reply: MessageItem) -> Answer:
        """The answer a run that died left streaming (Lambda timeout or crash), with what
        its last checkpoint stored, to be ended."""
        return cls(Transcript.resumed(reply), time.monotonic(), reply["created_at"])

    def use_tools(self, tools: Sequence[Tool], command: MessageItem) -> None:
        """Offer the model the bot's ``tools`` for this answer to ``command``; the answer's
        text then leaves room for what they record in the final frame."""
        rules = budget.BUDGET
        run = ToolRun(tools, command, self.transcript, rules.max_tool_bytes)
        if run.enabled:
            self.tools = run
            self.transcript.max_bytes = max(0, rules.max_answer_bytes - rules.max_tool_bytes)

    def end(
        self, status: Status, failure: Failure | None = None, *, stored: bool = False
    ) -> Result:
        """End the answer (chat.logic.bot.ending), once: what became of it (the first
        ending's, if the last-chance timer ended it already)."""
        with self._ending:
            if self._result is None:
                self._result = self._end(status, failure, stored)
            return self._result

    def _end(self, status: Status, failure: Failure | None, stored: bool) -> Result:
        outcome = end_answer(
            self.feed,
            status,
            failure,
            stored=stored,
            checkpoint_writes=self.checkpoint_writes,
            tokens=self.tokens,
            charge=usage.charge(self.transcript.room_id, self.bot, self.created_at, self.tokens),
        )
        result: Result = {"outcome": outcome, "reply_id": self.transcript.message_id}
        if outcome == "error" and failure is not None:
            result["code"] = failure.code
        return result

    @contextmanager
    def last_chance(self, at: float) -> Iterator[None]:
        """End the answer as a ``timeout`` at ``at`` (monotonic clock) unless it ended."""
        timer = threading.Timer(max(0.0, at - time.monotonic()), self._give_up)
        timer.daemon = True
        timer.start()
        try:
            yield
        finally:
            timer.cancel()

    def _give_up(self) -> None:
        if not self._ending.acquire(blocking=False):
            return  # the run is ending it right now
        try:
            if self._result is None:
                logger.warning("bot answer still running at its last chance: ended")
                metrics.add_metric(name="BotAnswersCutOff", unit=MetricUnit.Count, value=1)
                failure = Failure("timeout", TIMED_OUT_MESSAGE, "operator")
                self._result = self._end("error", failure, False)
        finally:
            self._ending.release()

    def _send(self, chunks: list[str]) -> None:
        """The reader's sink: the room's next chunks, unless the answer has ended."""
        if self._result is not None:
            raise StopRequested
        self.feed.send(chunks)

    def checkpoint(self) -> None:
        """Store what was sent since the last checkpoint (a write), or, with nothing new,
        read whether a stop was asked; raise ``StopRequested`` if it was."""
        room_id, message_id = self.transcript.room_id, self.transcript.message_id
        text = self.transcript.text
        if len(text) > self.saved:
            self.checkpoint_writes += 1
            if message_table.checkpoint(room_id, message_id, text, self.transcript.seq):
                self.saved = len(text)
                return
        elif not message_table.stop_requested(room_id, message_id):
            return
        raise StopRequested

    def stream(
        self,
        api_key: str,
        model: str,
        model_input: ModelInput,
        deadline: float,
        *,
        room_key: bool = False,
        room_model: bool = False,
    ) -> Result:
        """Stream the model's answer until it ends; what became of it. ``room_key`` and
        ``room_model``: the key and the model are the room's own (a failure they cause is
        then the room's to fix, chat.logic.bot.failures)."""
        self.feed.set_typing(True)
        reader = AnswerReader(
            self.transcript, self._send, self.checkpoint, budget.BUDGET, self.feed.pacer
        )
        rules = budget.BUDGET
        try:
            with self.last_chance(deadline + rules.margin - rules.last_chance), reader:
                self._call_model(reader, api_key, model, model_input, deadline)
        except StopRequested:
            return self.end("stopped")
        except gemini.GeminiError as exc:
            failure = failures.of_model_error(exc, room_key=room_key, room_model=room_model)
            logger.warning(
                "bot answer failed",
                extra={
                    "code": exc.code,
                    "cause": failure.cause,
                    "detail": exc.detail,
                    "status": exc.status,
                },
            )
            return self.end("error", failure)
        except Exception as exc:
            log_unexpected("bot answer failed unexpectedly", exc)
            metrics.add_metric(name="UnhandledErrors", unit=MetricUnit.Count, value=1)
            error = gemini.GeminiModelError(type(exc).__name__, transient=False)
            return self.end("error", Failure(error.code, error.message, "operator"))
        result = self.end("complete")
        if result["outcome"] == "complete":
            _usage_metrics(self.tokens)
        return result

    def _call_model(
        self,
        reader: AnswerReader,
        api_key: str,
        model: str,
        model_input: ModelInput,
        deadline: float,
    ) -> None:
        """The model's rounds until one answers (one round without tools)."""
        client = gemini.client_for(api_key, settings().gemini_base_url)
        if model_input.stages and model_input.combine is not None:
            condensed = [
                self._condense(client, model, stage, deadline) for stage in model_input.stages
            ]
            model_input = model_input.combine(condensed)
        exchanges: list[gemini.Exchange] = []
        for _ in range(MAX_ROUNDS):
            stream = self._round(reader, client, model, model_input, deadline, exchanges)
            if self.tools is None or self.transcript.truncated:
                return
            exchange = self.tools.after(stream)
            if exchange is None:
                return
            exchanges.append(exchange)
        raise gemini.GeminiModelError("the model kept calling its tools", transient=False)

    def _round(
        self,
        reader: AnswerReader,
        client: gemini.GeminiClient,
        model: str,
        model_input: ModelInput,
        deadline: float,
        exchanges: Sequence[gemini.Exchange],
    ) -> gemini.AnswerStream:
        """One model request read into the room, retried under the one rule."""
        rules = budget.BUDGET
        for attempt in range(1, rules.attempts + 1):
            stream = _request(
                client,
                model,
                model_input,
                deadline,
                file_parts=model_input.file_parts,
                tools=self.tools.offer() if self.tools else None,
                exchanges=exchanges,
            )
            try:
                reader.read(stream, deadline)
                return stream
            except gemini.GeminiError as exc:
                wait = retry_wait(exc, attempt, deadline)
                if wait is None:
                    raise
                metrics.add_metric(name="BotModelRetries", unit=MetricUnit.Count, value=1)
                logger.info("retrying the model", extra={"code": exc.code, "attempt": attempt})
                reader.wait(wait)  # a stop during the backoff still ends the answer on time
            finally:
                self._count(stream.usage)
        raise AssertionError("unreachable")  # pragma: no cover - the last attempt raises

    def _condense(
        self, client: gemini.GeminiClient, model: str, stage: ModelInput, deadline: float
    ) -> str:
        """One stage of an input too long for one request: the model's text for it, read
        whole and shown to nobody (a failure fails the answer, as the last stage's would)."""
        stream = _request(client, model, stage, deadline)
        try:
            return "".join(stream)
        finally:
            self._count(stream.usage)

    def _count(self, reported: gemini.Usage | None) -> None:
        """Add a request's reported tokens (thinking counts as output, as Gemini bills it)."""
        if reported is not None:
            self.tokens.add(reported.input_tokens, reported.output_tokens)


def _request(
    client: gemini.GeminiClient,
    model: str,
    model_input: ModelInput,
    deadline: float,
    **extra: Any,
) -> gemini.AnswerStream:
    """One model request within the answer's budget: a stall timeout, no later than the
    deadline, the output cap; `extra` (files, tools, earlier exchanges) as the SDK takes them."""
    rules = budget.BUDGET
    left = deadline - time.monotonic()
    return client.stream_answer(
        model=model,
        system_instruction=model_input.system_instruction,
        contents=model_input.contents,
        timeout=max(0.1, min(rules.stall_timeout, left)),
        total_timeout=max(0.1, left),
        max_output_tokens=rules.max_output_tokens,
        **extra,
    )


def retry_wait(exc: gemini.GeminiError, attempt: int, deadline: float) -> float | None:
    """The one retry rule: how long to wait before another attempt, or None for none."""
    rules = budget.BUDGET
    if not exc.retryable or attempt >= rules.attempts:
        return None
    wait = rules.backoff * 2 ** (attempt - 1) * random.uniform(0.8, 1.2)  # noqa: S311
    if exc.retry_after is not None:
        if exc.retry_after > rules.max_retry_wait:
            return None
        wait = max(wait, exc.retry_after)
    if time.monotonic() + wait + rules.min_answer > deadline:
        return None
    return wait


def _usage_metrics(tokens: usage.Tokens) -> None:
    if not tokens.reported:
        return
    for name, value in (
        ("BotPromptTokens", tokens.input),
        ("BotOutputTokens", tokens.output),
        ("BotTotalTokens", tokens.input + tokens.output),
    ):
        metrics.add_metric(name=name, unit=MetricUnit.Count, value=value)
