"""Reading the model's stream into the room, so the answer never waits on the model longer
than it should.

The ``AnswerReader`` owns the answer's coalescer and its ``Ticker``: each model stream is
read on a thread, every piece is let in under the size cap (``Transcript.admit``) and fed to
the coalescer, and whatever chunks are due go to one sink (the room). Buffered text goes out
when the coalescer's window is due even if the model stalls, the ticker (the answer's
checkpoints, which also learn of a stop) runs on time whatever the model does, and the
answer ends at its deadline at once. Leaving early (deadline, stop, size cap) aborts the
stream: its connection is shut down, so the reader thread ends at once and no more of the
answer is read. Whatever ends the reading, what is still buffered is sent first; only in a
big room, where frames keep to the answer's pace (chat.logic.bot.pacing), an answer ended by
an error or a stop before its next frame was due leaves that text unsent (and unstored: the
answer is what its room was sent), so that the end is not held up.
"""

from __future__ import annotations

import math
import queue
import threading
import time
from collections.abc import Callable
from types import TracebackType
from typing import Any

from chat.adapters import gemini
from chat.logic.bot.budget import AnswerBudget
from chat.logic.bot.coalesce import ChunkCoalescer
from chat.logic.bot.pacing import SendPacer
from chat.logic.bot.transcript import Transcript

Sink = Callable[[list[str]], None]


class Ticker:
    """Calls ``action`` every ``interval`` seconds (monotonic clock) of the answer, when its
    driver polls it; ``action`` may raise to end the answer (e.g. a stop request)."""

    def __init__(self, interval: float, action: Callable[[], None]):
        self.interval = interval
        self.action = action
        self.due = time.monotonic() + interval

    def poll(self) -> None:
        now = time.monotonic()
        if now >= self.due:
            self.due = now + self.interval
            self.action()

    def sleep(self, seconds: float) -> None:
        """Wait ``seconds`` (e.g. a retry's backoff) while still ticking on time."""
        end = time.monotonic() + seconds
        while (now := time.monotonic()) < end:
            time.sleep(max(0.0, min(end, self.due) - now))
            self.poll()


class AnswerReader:
    """The reading of one answer's model streams (one per attempt); a context manager whose
    exit sends what is still buffered."""

    def __init__(
        self,
        transcript: Transcript,
        sink: Sink,
        tick: Callable[[], None],
        rules: AnswerBudget,
        pacer: SendPacer | None = None,
    ):
        self.transcript = transcript
        self.sink = sink
        self.coalescer = ChunkCoalescer(
            window=rules.coalesce_window,
            flush_chars=rules.coalesce_chars,
            max_chunk_bytes=rules.max_answer_bytes,
        )
        self.ticker = Ticker(rules.checkpoint_interval, tick)
        self.pacer = pacer

    def __enter__(self) -> AnswerReader:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        pacer = self.pacer
        if error is not None and pacer is not None and pacer.paced and pacer.wait() > 0:
            self.coalescer.drop()
            return
        self.sink(self.coalescer.flush())

    def _pace(self) -> None:
        """The coalescer keeps to the answer's pace, as the last frame left it."""
        if self.pacer is not None:
            self.coalescer.hold_until(self.pacer.next_at)

    def wait(self, seconds: float) -> None:
        """Wait (a retry's backoff) while the ticker keeps ticking."""
        self.ticker.sleep(seconds)

    def read(self, stream: gemini.AnswerStream, deadline: float) -> None:
        """Read ``stream`` until it ends or the size cap is reached; give up at ``deadline``
        (monotonic clock) with a ``GeminiTimeout``. What the stream or the ticker raises
        ends the reading."""
        inbox: queue.SimpleQueue[tuple[str, Any]] = queue.SimpleQueue()
        stop = threading.Event()
        finished = False
        threading.Thread(
            target=_read, args=(stream, inbox, stop), name="gemini-reader", daemon=True
        ).start()
        try:
            while True:
                kind, value = self._next(stream, inbox, deadline)
                if kind == "end" or kind == "error":
                    finished = True
                    if kind == "error":
                        raise value
                    return
                if kind == "piece" and not self._take(value):
                    return  # the size cap: the answer is complete as cut
        finally:
            stop.set()
            if not finished:
                stream.abort()

    def _next(
        self,
        stream: gemini.AnswerStream,
        inbox: queue.SimpleQueue[tuple[str, Any]],
        deadline: float,
    ) -> tuple[str, Any]:
        """The reader thread's next message, or ("idle", None) once the coalescer's buffer
        was due (and sent) first; ticks the ticker on time."""
        if time.monotonic() >= deadline:
            raise gemini.GeminiTimeout(
                "the answer ran out of time", transient=True, partial_text=stream.text
            )
        self.ticker.poll()
        self._pace()
        due = self.coalescer.due_at()
        wake = min(deadline, math.inf if due is None else due, self.ticker.due)
        try:
            return inbox.get(timeout=max(0.0, wake - time.monotonic()))
        except queue.Empty:
            self.sink(self.coalescer.poll())
            return "idle", None

    def _take(self, piece: str) -> bool:
        """Let a piece in under the cap and send what is due; False once the cap is hit."""
        admitted = self.transcript.admit(piece)
        if admitted:
            self._pace()
            self.sink(self.coalescer.feed(admitted))
        return not self.transcript.truncated


def _read(
    stream: gemini.AnswerStream,
    inbox: queue.SimpleQueue[tuple[str, Any]],
    stop: threading.Event,
) -> None:
    """The reader thread: every piece, then "end" or the error, into ``inbox``."""
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
