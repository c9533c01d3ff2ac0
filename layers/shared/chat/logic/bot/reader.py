"""Reading the model's stream on a thread, so the answer never waits on the model longer
than it should: buffered text goes out when the coalescer's window is due even if the
model stalls, the answer's ``Ticker`` (its checkpoints, which also learn of a stop) runs
on time whatever the model does, and the answer ends at its deadline at once. Leaving
early (deadline, stop, size cap) aborts the stream: its connection is shut down, so the
reader thread ends at once and no more of the answer is read."""

from __future__ import annotations

import math
import queue
import threading
import time
from collections.abc import Callable
from typing import Any

from chat.adapters import gemini
from chat.logic.bot.coalesce import ChunkCoalescer


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


def drive(
    stream: gemini.AnswerStream,
    deadline: float,
    take: Callable[[str], bool],
    coalescer: ChunkCoalescer,
    push_chunks: Callable[[list[str]], None],
    ticker: Ticker | None = None,
) -> None:
    """Read ``stream`` on a thread; feed pieces to ``take`` (False: stop, the answer is
    complete as cut); flush the coalescer when its window is due; poll ``ticker`` on time
    (what it raises ends the answer); give up at ``deadline`` (monotonic clock) with a
    ``GeminiTimeout``. Errors of the stream are raised here."""
    inbox: queue.SimpleQueue[tuple[str, Any]] = queue.SimpleQueue()
    stop = threading.Event()
    finished = False
    threading.Thread(
        target=_read, args=(stream, inbox, stop), name="gemini-reader", daemon=True
    ).start()
    try:
        while True:
            now = time.monotonic()
            if now >= deadline:
                raise gemini.GeminiTimeout(
                    "the answer ran out of time", transient=True, partial_text=stream.text
                )
            if ticker is not None:
                ticker.poll()
            due = coalescer.due_at()
            wake = min(
                deadline,
                math.inf if due is None else due,
                math.inf if ticker is None else ticker.due,
            )
            try:
                kind, value = inbox.get(timeout=max(0.0, wake - time.monotonic()))
            except queue.Empty:
                push_chunks(coalescer.poll())
                continue
            if kind == "end":
                finished = True
                return
            if kind == "error":
                finished = True
                raise value
            if not take(value):
                return  # the size cap: the answer is complete as cut
    finally:
        stop.set()
        if not finished:
            stream.abort()


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
