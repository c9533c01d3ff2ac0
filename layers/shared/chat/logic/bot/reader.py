"""Reading the model's stream on a thread, so the answer never waits on the model longer
than it should: buffered text goes out when the coalescer's window is due even if the
model stalls, and the answer stops at its deadline at once (the reader then ends at its
own stall timeout)."""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable
from typing import Any

from chat.logic.bot import gemini
from chat.logic.bot.coalesce import ChunkCoalescer


def drive(
    stream: gemini.AnswerStream,
    deadline: float,
    take: Callable[[str], bool],
    coalescer: ChunkCoalescer,
    push_chunks: Callable[[list[str]], None],
) -> None:
    """Read ``stream`` on a thread; feed pieces to ``take`` (False: stop, the answer is
    complete as cut); flush the coalescer when its window is due; give up at ``deadline``
    (monotonic clock) with a ``GeminiTimeout``. Errors of the stream are raised here."""
    inbox: queue.SimpleQueue[tuple[str, Any]] = queue.SimpleQueue()
    stop = threading.Event()
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
