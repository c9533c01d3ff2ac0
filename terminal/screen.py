"""The terminal: lines printed above what the user is typing, and a line that grows as the
bot's answer streams."""

from __future__ import annotations

import contextlib
import os
import sys
import threading
from datetime import datetime

try:  # line editing and history for input(); absent on some platforms
    import readline
except ImportError:  # pragma: no cover
    readline = None  # type: ignore[assignment]


class Screen:
    def __init__(self) -> None:
        self.interactive = sys.stdin.isatty() and sys.stdout.isatty()
        self.colour = sys.stdout.isatty() and not os.environ.get("NO_COLOR")
        self.prompt = ""
        self.lock = threading.RLock()
        self.streaming: str | None = None  # message id of the answer being streamed
        self.reading = False  # input() is showing the prompt

    def read(self) -> str:
        self.reading = True
        try:
            return input(self.prompt if self.interactive else "")
        finally:
            self.reading = False

    def paint(self, text: str, code: str) -> str:
        return f"\033[{code}m{text}\033[0m" if self.colour else text

    def _restore_prompt(self) -> None:
        if self.interactive and self.reading:
            buffer = readline.get_line_buffer() if readline else ""
            sys.stdout.write(self.prompt + buffer)

    def line(self, text: str) -> None:
        with self.lock:
            if self.streaming is not None:  # interrupting an answer: it goes on below
                sys.stdout.write("\n")
                self.streaming = None
            elif self.interactive and self.reading:
                sys.stdout.write("\r\033[K")
            sys.stdout.write(text + "\n")
            self._restore_prompt()
            sys.stdout.flush()

    def erase_typed_line(self) -> None:
        """The line just entered (the server's echo of it replaces it)."""
        if self.interactive:
            sys.stdout.write("\033[1A\r\033[K")
            sys.stdout.flush()

    def stream(self, message_id: str, header: str, chunk: str) -> None:
        with self.lock:
            if self.streaming != message_id:
                if self.streaming is not None:
                    sys.stdout.write("\n")
                elif self.interactive and self.reading:
                    sys.stdout.write("\r\033[K")
                sys.stdout.write(header)
                self.streaming = message_id
            sys.stdout.write(chunk)
            sys.stdout.flush()

    def end_stream(self, message_id: str) -> None:
        with self.lock:
            if self.streaming == message_id:
                sys.stdout.write("\n")
                self.streaming = None
                self._restore_prompt()
                sys.stdout.flush()


def clock(iso: str | None) -> str:
    """A timestamp of the contract as the local hour and minute."""
    if not iso:
        return "--:--"
    with contextlib.suppress(ValueError):
        return datetime.fromisoformat(iso.replace("Z", "+00:00")).astimezone().strftime("%H:%M")
    return iso[11:16]


def file_size(size: int) -> str:
    return (
        f"{size} B"
        if size < 1024
        else f"{size / 1024:.0f} KiB"
        if size < 1024**2
        else f"{size / 1024**2:.1f} MiB"
    )
