"""The bot worker: answers queued bot commands by streaming Gemini into the room.

One SQS FIFO record is one command (``{"room_id", "message_id"}``, grouped by room). For
each, the worker loads the command, the room, its members and the recent history, creates
the bot message (``status: "streaming"``), streams the model's answer to the room's
subscribers as ``bot_stream`` frames, and stores the answer (``complete``, or ``error``
with what was streamed so far and a ``bot_error`` frame).

Retry or answer (the queue blocks a room until its oldest command is done, and a retry
waits out the visibility timeout, 12 minutes):

- Model failures are *answered*: ``bot_error`` (``rate_limited``, ``model_error``,
  ``timeout``) and the record is acknowledged. Transient ones are retried here first, with
  a short backoff, but only while nothing of the answer has been pushed (a retry after
  that would show text twice). A rate limit asking to wait longer than
  ``Limits.max_retry_wait`` is not waited for.
- A room without a key (its own, else the stack's shared one) is answered ``no_api_key``.
- Failures of our own infrastructure before the bot message exists (DynamoDB, KMS,
  Secrets Manager) raise: the record fails and SQS retries it (3 receives, then the DLQ);
  ``skip_group_on_error`` fails the room's later records of the batch too, so its order
  holds while other rooms go on. Once the bot message exists every failure ends it in a
  terminal state; only a failure to store that state raises (the retry finishes it).
- A command is not started with less than ``Limits.min_answer`` seconds before the
  Lambda deadline (minus ``Limits.margin`` for the final store and frames): the record
  fails and comes back later, rather than the whole batch timing out.

A redelivered command never gets a second answer: Powertools idempotency keyed on the
command's message_id returns the first run's result, and beyond its records (expired,
or a run that died mid-way) the command item itself names its reply (``reply_id``,
written in one transaction with the bot message). A reply still ``streaming`` then
belongs to a run that died (Lambda timeout or crash): it is ended as ``timeout``.

Caps: an answer is at most ``Limits.max_answer_bytes`` as JSON (ASCII-escaped, the
largest encoding), so the final frame with ``full_response`` stays under the 32 KB
WebSocket frame limit; longer answers are cut there and stored as complete. The model is
also asked for at most ``Limits.max_output_tokens`` tokens (thinking models count their
thoughts in that budget, hence the generous figure).

Streaming runs the SDK on a reader thread: the worker waits for the next piece only until
the coalescer's window is due (so buffered text goes out during a model stall) or the
answer's deadline passes (then it stops at once; the reader ends at its stall timeout).

The API key is only handed to ``chat.bot.gemini``; it is never logged, pushed or stored.
Unexpected exceptions are logged by type and code location only.
"""

from __future__ import annotations

import json
import queue
import random
import threading
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit, single_metric
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.idempotency import (
    DynamoDBPersistenceLayer,
    IdempotencyConfig,
    idempotent_function,
)

from chat import broadcast
from chat.adapters import secrets, storage
from chat.bot import files, gemini
from chat.bot.coalesce import ChunkCoalescer, json_size, split_for_frames
from chat.bot.context import MAX_MESSAGES, ModelInput, build_model_input
from chat.config import settings
from chat.dal import messages as store
from chat.dal import rooms
from chat.ids import new_id, now_iso
from chat.messages import message_frame
from chat.models import BOT_USERNAME, Message
from chat.observability import logger, metrics

TERMINAL = ("complete", "error")
NO_KEY_MESSAGE = (
    "This room has no Gemini API key. The room's owner can add one in the bot settings."
)
INTERRUPTED_MESSAGE = "The answer was interrupted."


@dataclass(frozen=True)
class Limits:
    """Time and size limits of one answer (seconds, bytes). Tests replace ``LIMITS``."""

    answer_timeout: float = 90.0  # the whole answer, retries included
    stall_timeout: float = 20.0  # connecting, first byte, any pause between bytes
    margin: float = 6.0  # kept before the Lambda deadline to store and push the end
    min_answer: float = 5.0  # less time than this left: do not start a command
    attempts: int = 3  # model calls per answer (retries only before any text)
    backoff: float = 0.4  # first retry wait; doubled each time, with jitter
    max_retry_wait: float = 3.0  # a rate limit asking for longer is not retried
    max_output_tokens: int = 8192
    max_answer_bytes: int = 30 * 1024  # full_response as JSON, so the final frame < 32 KB
    history_messages: int = MAX_MESSAGES  # messages read before the command (one Query)
    coalesce_window: float = 0.1
    coalesce_chars: int = 1024
    idempotency_seconds: int = 24 * 3600  # the queue's retention: any redelivery is covered


LIMITS = Limits()

_IDEMPOTENCY = IdempotencyConfig(
    event_key_jmespath="message_id",
    raise_on_no_idempotency_key=True,
    expires_after_seconds=LIMITS.idempotency_seconds,
)


class OutOfTime(Exception):
    """Too little of the invocation is left to answer a command; SQS brings it back."""


# ------------------------------------------------------------------------------ entry point
def handle_record(record: SQSRecord, lambda_context: Any) -> dict[str, Any]:
    """The record handler of the SQS batch: one queued command."""
    body = json.loads(record.body)
    command = {"room_id": str(body["room_id"]), "message_id": str(body["message_id"])}
    logger.append_keys(**command)
    try:
        deadline = _deadline(lambda_context)
        _IDEMPOTENCY.register_lambda_context(lambda_context)
        answer = _answer_once(settings().require("idempotency_table"))
        return answer(command=command, deadline=deadline)
    finally:
        logger.remove_keys(["room_id", "message_id"])


def _deadline(lambda_context: Any) -> float:
    """When this command's answer must be over (monotonic clock), or OutOfTime."""
    left = lambda_context.get_remaining_time_in_millis() / 1000 - LIMITS.margin
    if left < LIMITS.min_answer:
        metrics.add_metric(name="BotCommandsDeferred", unit=MetricUnit.Count, value=1)
        raise OutOfTime(f"{left:.1f}s left in this invocation")
    return time.monotonic() + min(left, LIMITS.answer_timeout)


@lru_cache(maxsize=1)
def _answer_once(table_name: str) -> Callable[..., dict[str, Any]]:
    """answer_command made idempotent on the command's message_id; built on first use, once
    per container (its persistence layer makes its own low-level DynamoDB client)."""
    return idempotent_function(
        data_keyword_argument="command",
        persistence_store=DynamoDBPersistenceLayer(table_name=table_name),
        config=_IDEMPOTENCY,
    )(answer_command)


# ------------------------------------------------------------------------------ one command
def answer_command(command: dict[str, str], deadline: float) -> dict[str, Any]:
    """Answer one command (at most once); returns what became of it."""
    room_id, command_id = command["room_id"], command["message_id"]
    started = time.monotonic()
    item = store.get_message(room_id, command_id)
    if item is None or item.get("message_type") != "command":
        logger.warning("bot command not found, skipped")
        return {"outcome": "skipped"}
    if item.get("reply_id"):
        return _already_answered(room_id, command_id, item["reply_id"])
    room = rooms.get_room(room_id)
    if room is None:
        logger.warning("room of the bot command not found, skipped")
        return {"outcome": "skipped"}
    api_key = _api_key(room_id, room)
    model = room.get("model") or settings().default_bot_model
    # Every read before the first write: a failure up to here leaves nothing to clean up.
    history = [*store.page(room_id, LIMITS.history_messages, command_id)[0], item]
    model_input = build_model_input(
        room_name=room.get("name", ""),
        members=[member["username"] for member in rooms.list_members(room_id)],
        system_prompt=room.get("system_prompt"),
        history=history,
        command=item,
    )
    model_input = files.attach(model_input, history, storage.read)
    reply = Message(
        message_id=new_id(),
        room_id=room_id,
        username=BOT_USERNAME,
        content="",
        message_type="bot",
        is_bot=True,
        created_at=now_iso(),
        reply_to=command_id,
        status="streaming" if api_key else "error",
    )
    if not store.put_reply(command_id, reply.model_dump(exclude_none=True)):
        # Another run got there first (or the command vanished): read what it left.
        item = store.get_message(room_id, command_id) or {}
        return _already_answered(room_id, command_id, item.get("reply_id"))
    rooms.touch_last_message(room_id, reply.created_at)
    answer = _Answer(room_id, reply.message_id, command_id, started)
    answer.push(message_frame(reply))
    if not api_key:
        answer.fail("no_api_key", NO_KEY_MESSAGE, stored=True)
        return {"outcome": "error", "code": "no_api_key", "reply_id": reply.message_id}
    return answer.stream(api_key, model, model_input, deadline)


def _api_key(room_id: str, room: dict[str, Any]) -> str | None:
    """The room's own key, else the stack's shared key, else None."""
    ciphertext = room.get("api_key_ciphertext")
    if ciphertext is not None:
        return secrets.decrypt_api_key(room_id, ciphertext)
    return secrets.shared_gemini_key()


def _already_answered(room_id: str, command_id: str, reply_id: str | None) -> dict[str, Any]:
    metrics.add_metric(name="BotCommandsRedelivered", unit=MetricUnit.Count, value=1)
    reply = store.get_message(room_id, reply_id) if reply_id else None
    if reply is None or reply.get("status") in TERMINAL:
        logger.info("bot command already answered", extra={"reply_id": reply_id})
        return {"outcome": "duplicate", "reply_id": reply_id}
    # A run died while streaming this reply (Lambda timeout or crash): end it.
    logger.warning("ending a bot reply left streaming", extra={"reply_id": reply_id})
    answer = _Answer(room_id, reply["message_id"], command_id, time.monotonic())
    answer.received = [reply.get("content") or ""]
    answer.fail("timeout", INTERRUPTED_MESSAGE)
    return {"outcome": "error", "code": "timeout", "reply_id": reply_id}


# ------------------------------------------------------------------------------ one answer
@dataclass
class _Answer:
    room_id: str
    message_id: str
    reply_to: str
    started: float
    received: list[str] = field(default_factory=list)  # text fed to the coalescer
    received_bytes: int = 0
    chunks: int = 0
    frames: int = 0
    truncated: bool = False
    typing: bool = False

    # -- frames -------------------------------------------------------------------------
    def push(self, frame: dict[str, Any]) -> None:
        """Best effort: the stored message is the truth; a failed push must not end it."""
        try:
            self.frames += broadcast.to_room(self.room_id, frame).delivered
        except Exception as exc:
            _log_unexpected("bot frame push failed", exc)
            metrics.add_metric(name="BotPushFailures", unit=MetricUnit.Count, value=1)

    def push_chunks(self, chunks: list[str]) -> None:
        for chunk in chunks:
            if self.chunks == 0:
                _ms_metric("BotTimeToFirstChunk", self.started)
            self.chunks += 1
            self.push(self._frame("bot_stream", chunk=chunk, is_complete=False))

    def set_typing(self, is_typing: bool) -> None:
        self.typing = is_typing
        self.push(
            {
                "type": "typing",
                "room_id": self.room_id,
                "username": BOT_USERNAME,
                "is_typing": is_typing,
            }
        )

    def _frame(self, frame_type: str, **fields: Any) -> dict[str, Any]:
        return {
            "type": frame_type,
            "room_id": self.room_id,
            "message_id": self.message_id,
            "reply_to": self.reply_to,
            **fields,
        }

    @property
    def text(self) -> str:
        return "".join(self.received)

    # -- the answer ---------------------------------------------------------------------
    def stream(
        self, api_key: str, model: str, model_input: ModelInput, deadline: float
    ) -> dict[str, Any]:
        coalescer = ChunkCoalescer(
            window=LIMITS.coalesce_window,
            flush_chars=LIMITS.coalesce_chars,
            max_chunk_bytes=LIMITS.max_answer_bytes,
        )
        self.set_typing(True)
        try:
            usage = self._call_model(api_key, model, model_input, deadline, coalescer)
        except gemini.GeminiError as exc:
            self.push_chunks(coalescer.flush())
            logger.warning(
                "bot answer failed",
                extra={"code": exc.code, "detail": exc.detail, "status": exc.status},
            )
            self.fail(exc.code, exc.message)
            return {"outcome": "error", "code": exc.code, "reply_id": self.message_id}
        except Exception as exc:
            self.push_chunks(coalescer.flush())
            _log_unexpected("bot answer failed unexpectedly", exc)
            error = gemini.GeminiModelError(type(exc).__name__, transient=False)
            self.fail(error.code, error.message)
            return {"outcome": "error", "code": error.code, "reply_id": self.message_id}
        self.push_chunks(coalescer.flush())
        self.finish(usage)
        return {"outcome": "complete", "reply_id": self.message_id}

    def _call_model(
        self,
        api_key: str,
        model: str,
        model_input: ModelInput,
        deadline: float,
        coalescer: ChunkCoalescer,
    ) -> gemini.Usage | None:
        client = gemini.client_for(api_key, settings().gemini_base_url)
        for attempt in range(1, LIMITS.attempts + 1):
            left = deadline - time.monotonic()
            stream = client.stream_answer(
                model=model,
                system_instruction=model_input.system_instruction,
                contents=model_input.contents,
                timeout=max(0.1, min(LIMITS.stall_timeout, left)),
                total_timeout=max(0.1, left),
                max_output_tokens=LIMITS.max_output_tokens,
                file_parts=model_input.file_parts,
            )
            try:
                _drive(stream, deadline, self._take(coalescer), coalescer, self.push_chunks)
                return stream.usage
            except gemini.GeminiError as exc:
                wait = self._retry_wait(exc, attempt, deadline)
                if wait is None:
                    raise
                metrics.add_metric(name="BotModelRetries", unit=MetricUnit.Count, value=1)
                logger.info("retrying the model", extra={"code": exc.code, "attempt": attempt})
                time.sleep(wait)
        raise AssertionError("unreachable")  # pragma: no cover - the last attempt raises

    def _retry_wait(self, exc: gemini.GeminiError, attempt: int, deadline: float) -> float | None:
        """How long to wait before another attempt, or None for no retry."""
        if not exc.transient or self.received or self.chunks or attempt >= LIMITS.attempts:
            return None
        wait = LIMITS.backoff * 2 ** (attempt - 1) * random.uniform(0.8, 1.2)  # noqa: S311
        retry_after = getattr(exc, "retry_after", None)
        if retry_after is not None:
            if retry_after > LIMITS.max_retry_wait:
                return None
            wait = max(wait, retry_after)
        if time.monotonic() + wait + LIMITS.min_answer > deadline:
            return None
        return wait

    def _take(self, coalescer: ChunkCoalescer) -> Callable[[str], bool]:
        """Feed a piece within the answer's size cap; False once the cap is reached."""

        def take(piece: str) -> bool:
            room = LIMITS.max_answer_bytes - self.received_bytes
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
    def finish(self, usage: gemini.Usage | None) -> None:
        full = self.text
        store.update_message(self.room_id, self.message_id, {"status": "complete", "content": full})
        self.push(self._frame("bot_stream", chunk="", is_complete=True, full_response=full))
        self.set_typing(False)
        if self.truncated:
            logger.warning("bot answer cut at the size cap", extra={"bytes": self.received_bytes})
            metrics.add_metric(name="BotAnswersTruncated", unit=MetricUnit.Count, value=1)
        metrics.add_metric(name="BotAnswers", unit=MetricUnit.Count, value=1)
        self._answer_metrics()
        if usage is not None:
            for name, value in (
                ("BotPromptTokens", usage.prompt_tokens),
                ("BotOutputTokens", usage.candidates_tokens),
                ("BotTotalTokens", usage.total_tokens),
            ):
                if value is not None:
                    metrics.add_metric(name=name, unit=MetricUnit.Count, value=value)

    def fail(self, code: str, message: str, *, stored: bool = False) -> None:
        """End the answer as an error: store what was streamed, then tell the room."""
        if not stored:
            store.update_message(
                self.room_id, self.message_id, {"status": "error", "content": self.text}
            )
        self.push(self._frame("bot_error", code=code, message=message))
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
        self._answer_metrics()

    def _answer_metrics(self) -> None:
        _ms_metric("BotAnswerDuration", self.started)
        metrics.add_metric(name="BotChunksPushed", unit=MetricUnit.Count, value=self.chunks)
        metrics.add_metric(name="BotFramesPushed", unit=MetricUnit.Count, value=self.frames)


def _drive(
    stream: gemini.AnswerStream,
    deadline: float,
    take: Callable[[str], bool],
    coalescer: ChunkCoalescer,
    push_chunks: Callable[[list[str]], None],
) -> None:
    """Read ``stream`` on a thread; feed pieces to ``take``; flush the coalescer when its
    window is due even if the model stalls; give up at ``deadline`` without waiting."""
    inbox: queue.SimpleQueue[tuple[str, Any]] = queue.SimpleQueue()
    stop = threading.Event()

    def read() -> None:
        try:
            for piece in stream:
                inbox.put(("piece", piece))
                if stop.is_set():
                    break
            inbox.put(("end", None))
        except BaseException as exc:  # handed to the waiting thread
            inbox.put(("error", exc))
        finally:
            stream.close()

    threading.Thread(target=read, name="gemini-reader", daemon=True).start()
    try:
        while True:
            now = time.monotonic()
            if now >= deadline:
                raise gemini.GeminiTimeout("the answer ran out of time", transient=True)
            due = coalescer.due_at()
            wait = deadline - now if due is None else max(0.0, min(due, deadline) - now)
            try:
                kind, value = inbox.get(timeout=wait)
            except queue.Empty:
                push_chunks(coalescer.poll())
                continue
            if kind == "end":
                return
            if kind == "error":
                raise value
            if not take(value):
                return  # the size cap: the answer is complete as cut
    finally:
        stop.set()


def _ms_metric(name: str, since: float) -> None:
    metrics.add_metric(
        name=name, unit=MetricUnit.Milliseconds, value=(time.monotonic() - since) * 1000
    )


def _log_unexpected(message: str, exc: BaseException) -> None:
    """Log an exception by type and where it was raised: its text may hold secrets."""
    frames = traceback.extract_tb(exc.__traceback__)
    where = f"{frames[-1].filename}:{frames[-1].lineno}" if frames else None
    logger.error(message, extra={"error_type": type(exc).__name__, "raised_at": where})
