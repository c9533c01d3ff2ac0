"""One bot answer, from the first ``bot_stream`` frame to its terminal state.

The model's answer is streamed to the room's subscribers as ``bot_stream`` chunks (the
coalescer batches the model's small pieces) and stored at the end: ``complete``, or
``error`` with what was streamed so far and a ``bot_error`` frame.

Every ``bot_stream`` frame carries ``seq`` (0, 1, 2 …) and ``offset`` (code points of the
answer before its chunk). While the answer streams, a ``Ticker`` checkpoints it every
``Limits.checkpoint_interval`` (1 s): when text was sent since the last checkpoint, the
stored message's ``content`` becomes the text sent so far, in a write conditional on
nobody having asked to stop; otherwise (the model pauses, or a retry's backoff) one read
asks the same. A failed condition is a stop request: the stream is aborted (no more tokens
read), what was buffered is sent, and the answer ends ``stopped`` with one final frame
(``stopped: true``). Every terminal write is conditional too, so a stop racing the
natural end, an error or a dead run's clean-up ends the answer exactly once: an answer
asked to stop ends ``stopped`` whatever else happened. Writes per answer: at most one
checkpoint per second while text arrives (≤ 60 per minute of streaming, ≤ 90 per answer
at the 90 s cap), plus the reply's creation and its end.

Model failures are *answered* (``bot_error``: ``rate_limited``, ``model_error``,
``timeout``). Transient ones are retried first, with a short backoff, under one rule:
the error is ``retryable`` (transient, and no text of it was handed out: a retry after
that would show text twice), attempts and time are left, and a rate limit does not ask to
wait longer than ``Limits.max_retry_wait``.

Caps: an answer is at most ``Limits.max_answer_bytes`` as JSON (ASCII-escaped, the
largest encoding), so the final frame with ``full_response`` stays under the WebSocket
frame limit; longer answers are cut there and stored as complete. The model is also asked
for at most ``Limits.max_output_tokens`` tokens (thinking models count their thoughts in
that budget, hence the generous figure).

Pushes are best effort: the stored message is the truth. The API key is only handed to
``chat.logic.bot.gemini``; it is never logged, pushed or stored. Unexpected exceptions are
logged by type and code location only.
"""

from __future__ import annotations

import random
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit, single_metric

from chat.config import settings
from chat.dal import messages as message_table
from chat.frames import BotErrorFrame, BotStreamFrame, ServerFrame, TypingFrame
from chat.logic import presence
from chat.logic.bot import failures, gemini, limits
from chat.logic.bot.coalesce import ChunkCoalescer, json_size, split_for_frames
from chat.logic.bot.context import ModelInput
from chat.logic.bot.failures import Cause
from chat.logic.bot.reader import Ticker, drive
from chat.models import BOT_USERNAME
from chat.observability import logger, metrics


class StopRequested(Exception):
    """Someone asked to stop the answer (its checkpoint's condition failed)."""


@dataclass
class Answer:
    room_id: str
    message_id: str
    reply_to: str
    started: float
    received: list[str] = field(default_factory=list)  # text fed to the coalescer
    received_bytes: int = 0
    sent: list[str] = field(default_factory=list)  # the chunks pushed: the answer so far
    seq: int = 0  # the next bot_stream frame's seq
    offset: int = 0  # code points sent so far (the next chunk's offset)
    saved: int = 0  # code points stored by the last checkpoint
    checkpoint_writes: int = 0
    checkpoint_reads: int = 0
    chunks: int = 0
    frames: int = 0
    truncated: bool = False
    typing: bool = False

    # -- frames -------------------------------------------------------------------------
    def push(self, frame: ServerFrame) -> None:
        """Best effort: the stored message is the truth; a failed push must not end it."""
        try:
            self.frames += presence.send_to_room(self.room_id, frame).delivered
        except Exception as exc:
            log_unexpected("bot frame push failed", exc)
            metrics.add_metric(name="BotPushFailures", unit=MetricUnit.Count, value=1)

    def push_chunks(self, chunks: list[str]) -> None:
        for chunk in chunks:
            if self.chunks == 0:
                _ms_metric("BotTimeToFirstChunk", self.started)
            self.chunks += 1
            frame = self._stream_frame(chunk=chunk, is_complete=False)
            self.sent.append(chunk)
            self.seq += 1
            self.offset += len(chunk)
            self.push(frame)

    def _final_frame(self, *, stopped: bool) -> BotStreamFrame:
        full = self.text
        return self._stream_frame(chunk="", is_complete=True, full_response=full, stopped=stopped)

    def set_typing(self, is_typing: bool) -> None:
        self.typing = is_typing
        self.push(TypingFrame(room_id=self.room_id, username=BOT_USERNAME, is_typing=is_typing))

    def _stream_frame(self, **fields: Any) -> BotStreamFrame:
        ids = {"room_id": self.room_id, "message_id": self.message_id, "reply_to": self.reply_to}
        return BotStreamFrame(**ids, seq=self.seq, offset=self.offset, **fields)

    @property
    def text(self) -> str:
        """The answer as sent to the room so far."""
        return "".join(self.sent)

    # -- checkpoints --------------------------------------------------------------------
    def checkpoint(self) -> None:
        """Store what was sent since the last checkpoint (a write), or, with nothing new,
        read whether a stop was asked; raise ``StopRequested`` if it was."""
        text = self.text
        if len(text) > self.saved:
            self.checkpoint_writes += 1
            if message_table.checkpoint(self.room_id, self.message_id, text, self.seq):
                self.saved = len(text)
                return
        else:
            self.checkpoint_reads += 1
            if not message_table.stop_requested(self.room_id, self.message_id):
                return
        raise StopRequested

    # -- the answer ---------------------------------------------------------------------
    def stream(
        self,
        api_key: str,
        model: str,
        model_input: ModelInput,
        deadline: float,
        *,
        room_key: bool = False,
        room_model: bool = False,
    ) -> dict[str, Any]:
        """Stream the model's answer until its terminal state; returns what became of it.
        ``room_key``/``room_model``: the key and model are the room's own (a failure they
        cause is then the room's to fix, chat.logic.bot.failures)."""
        budget = limits.LIMITS
        coalescer = ChunkCoalescer(
            window=budget.coalesce_window,
            flush_chars=budget.coalesce_chars,
            max_chunk_bytes=budget.max_answer_bytes,
        )
        ticker = Ticker(budget.checkpoint_interval, self.checkpoint)
        self.set_typing(True)
        try:
            usage = self._call_model(api_key, model, model_input, deadline, coalescer, ticker)
        except StopRequested:
            self.push_chunks(coalescer.flush())
            return self._outcome(self.end_stopped())
        except gemini.GeminiError as exc:
            self.push_chunks(coalescer.flush())
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
            outcome = self.fail(failure.code, failure.message, cause=failure.cause)
            return self._outcome(outcome, failure.code)
        except Exception as exc:
            self.push_chunks(coalescer.flush())
            log_unexpected("bot answer failed unexpectedly", exc)
            metrics.add_metric(name="UnhandledErrors", unit=MetricUnit.Count, value=1)
            error = gemini.GeminiModelError(type(exc).__name__, transient=False)
            return self._outcome(self.fail(error.code, error.message), error.code)
        self.push_chunks(coalescer.flush())
        return self._outcome(self.finish(usage))

    def _outcome(self, outcome: str, code: str | None = None) -> dict[str, Any]:
        result: dict[str, Any] = {"outcome": outcome, "reply_id": self.message_id}
        if outcome == "error" and code:
            result["code"] = code
        return result

    def _call_model(
        self,
        api_key: str,
        model: str,
        model_input: ModelInput,
        deadline: float,
        coalescer: ChunkCoalescer,
        ticker: Ticker,
    ) -> gemini.Usage | None:
        client = gemini.client_for(api_key, settings().gemini_base_url)
        budget = limits.LIMITS
        for attempt in range(1, budget.attempts + 1):
            left = deadline - time.monotonic()
            stream = client.stream_answer(
                model=model,
                system_instruction=model_input.system_instruction,
                contents=model_input.contents,
                timeout=max(0.1, min(budget.stall_timeout, left)),
                total_timeout=max(0.1, left),
                max_output_tokens=budget.max_output_tokens,
                file_parts=model_input.file_parts,
            )
            try:
                drive(stream, deadline, self._take(coalescer), coalescer, self.push_chunks, ticker)
                return stream.usage
            except gemini.GeminiError as exc:
                wait = retry_wait(exc, attempt, deadline)
                if wait is None:
                    raise
                metrics.add_metric(name="BotModelRetries", unit=MetricUnit.Count, value=1)
                logger.info("retrying the model", extra={"code": exc.code, "attempt": attempt})
                ticker.sleep(wait)  # a stop during the backoff still ends the answer on time
        raise AssertionError("unreachable")  # pragma: no cover - the last attempt raises

    def _take(self, coalescer: ChunkCoalescer) -> Callable[[str], bool]:
        """Feed a piece within the answer's size cap; False once the cap is reached."""

        def take(piece: str) -> bool:
            room = limits.LIMITS.max_answer_bytes - self.received_bytes
            size = json_size(piece)
            if size > room:
                piece = split_for_frames(piece, room)[0] if room > 0 else ""
                size = json_size(piece)
                self.truncated = True
            if piece:
                self.received.append(piece)
                self.received_bytes += size
                self.push_chunks(coalescer.feed(piece))
            return not self.truncated

        return take

    # -- the end ------------------------------------------------------------------------
    # Each end is a conditional write: the one that succeeds sends the one final frame.
    def finish(self, usage: gemini.Usage | None) -> str:
        """End the answer as complete (or stopped, if a stop was asked meanwhile)."""
        full = self.text
        if not message_table.end_reply(self.room_id, self.message_id, "complete", full):
            # refused: a stop was asked (it ends stopped) or it ended elsewhere
            return self.end_stopped()
        self.push(self._final_frame(stopped=False))
        self.set_typing(False)
        if self.truncated:
            logger.warning("bot answer cut at the size cap", extra={"bytes": self.received_bytes})
            metrics.add_metric(name="BotAnswersTruncated", unit=MetricUnit.Count, value=1)
        metrics.add_metric(name="BotAnswers", unit=MetricUnit.Count, value=1)
        self._answer_metrics()
        _usage_metrics(usage)
        return "complete"

    def fail(
        self, code: str, message: str, *, stored: bool = False, cause: Cause = "operator"
    ) -> str:
        """End the answer as an error: store what was streamed, then tell the room (or end
        it as stopped, if a stop was asked meanwhile). ``cause``: who must act (the
        `cause` dimension of BotErrorsByCode; only operator-caused errors are alarmed)."""
        if not stored and not message_table.end_reply(
            self.room_id, self.message_id, "error", self.text
        ):
            # refused: a stop was asked (it ends stopped) or it ended elsewhere
            return self.end_stopped()
        ids = {"room_id": self.room_id, "message_id": self.message_id, "reply_to": self.reply_to}
        self.push(BotErrorFrame(**ids, code=code, message=message))
        if self.typing:
            self.set_typing(False)
        metrics.add_metric(name="BotErrors", unit=MetricUnit.Count, value=1)
        with single_metric(
            name="BotErrorsByCode",
            unit=MetricUnit.Count,
            value=1,
            default_dimensions=metrics.default_dimensions,
        ) as metric:
            metric.add_dimension(name="code", value=code)
            metric.add_dimension(name="cause", value=cause)
        self._answer_metrics()
        return "error"

    def end_stopped(self) -> str:
        """End the answer as stopped: store what was sent, send the final frame."""
        if not message_table.end_reply(self.room_id, self.message_id, "stopped", self.text):
            return self._ended_elsewhere()
        self.push(self._final_frame(stopped=True))
        if self.typing:
            self.set_typing(False)
        metrics.add_metric(name="BotAnswersStopped", unit=MetricUnit.Count, value=1)
        self._answer_metrics()
        return "stopped"

    def _ended_elsewhere(self) -> str:
        logger.warning("bot reply already ended elsewhere", extra={"reply_id": self.message_id})
        if self.typing:
            self.set_typing(False)
        return "duplicate"

    def _answer_metrics(self) -> None:
        _ms_metric("BotAnswerDuration", self.started)
        metrics.add_metric(
            name="BotCheckpointWrites", unit=MetricUnit.Count, value=self.checkpoint_writes
        )
        metrics.add_metric(name="BotChunksPushed", unit=MetricUnit.Count, value=self.chunks)
        metrics.add_metric(name="BotFramesPushed", unit=MetricUnit.Count, value=self.frames)


def retry_wait(exc: gemini.GeminiError, attempt: int, deadline: float) -> float | None:
    """The one retry rule: how long to wait before another attempt, or None for none."""
    budget = limits.LIMITS
    if not exc.retryable or attempt >= budget.attempts:
        return None
    wait = budget.backoff * 2 ** (attempt - 1) * random.uniform(0.8, 1.2)  # noqa: S311
    if exc.retry_after is not None:
        if exc.retry_after > budget.max_retry_wait:
            return None
        wait = max(wait, exc.retry_after)
    if time.monotonic() + wait + budget.min_answer > deadline:
        return None
    return wait


def _usage_metrics(usage: gemini.Usage | None) -> None:
    if usage is None:
        return
    for name, value in (
        ("BotPromptTokens", usage.prompt_tokens),
        ("BotOutputTokens", usage.candidates_tokens),
        ("BotTotalTokens", usage.total_tokens),
    ):
        if value is not None:
            metrics.add_metric(name=name, unit=MetricUnit.Count, value=value)


def _ms_metric(name: str, since: float) -> None:
    metrics.add_metric(
        name=name, unit=MetricUnit.Milliseconds, value=(time.monotonic() - since) * 1000
    )


def log_unexpected(message: str, exc: BaseException) -> None:
    """Log an exception by type and where it was raised: its text may hold secrets."""
    frames = traceback.extract_tb(exc.__traceback__)
    where = f"{frames[-1].filename}:{frames[-1].lineno}" if frames else None
    logger.error(message, extra={"error_type": type(exc).__name__, "raised_at": where})
