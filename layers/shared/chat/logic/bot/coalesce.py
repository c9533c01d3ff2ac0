"""Coalescing the model's small text pieces into fewer, larger ``bot_stream`` chunks.

The model streams a few words at a time; one WebSocket frame per piece multiplies the
fan-out calls. The coalescer buffers pieces and releases them as chunks:

- the first piece of an answer at once (``eager_first``), so the answer starts showing
  as soon as it exists;
- then everything buffered once ``window`` seconds have passed since the oldest buffered
  piece, or once the buffer holds ``flush_chars`` characters;
- everything left at ``flush()``, at the end of the answer.

No chunk's JSON encoding is larger than ``max_chunk_bytes``, so a frame (the chunk plus
its small envelope) stays under the WebSocket frame limit (32 KB). Sizes are those of
``json.dumps(chunk)`` with ``ensure_ascii``: every non-ASCII character escaped, the
largest encoding any JSON encoder produces. Big pieces are split between code points, and
never inside a surrogate pair. The concatenation of the chunks is always the
concatenation of the pieces.

In a big room the answer's pace (chat.logic.bot.pacing) sets ``hold_until(not_before)``: a
time before which nothing is released at all (not the first piece, not a full buffer), so
that frames stay within the room's share of the send budget; at that time whatever was
buffered goes, at least its window after its first piece.

Time only moves when the coalescer is called: a driver that can wait for the next piece
with a timeout should wake up at ``due_at()`` and call ``poll()``.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable

from chat.frames import MAX_FRAME_BYTES

# Room for the frame around the chunk: type, ids, flags (well under 1 KiB).
MAX_CHUNK_BYTES = MAX_FRAME_BYTES - 1024


class ChunkCoalescer:
    def __init__(
        self,
        *,
        window: float = 0.1,
        flush_chars: int = 1024,
        max_chunk_bytes: int = MAX_CHUNK_BYTES,
        eager_first: bool = True,
        clock: Callable[[], float] = time.monotonic,
    ):
        if max_chunk_bytes < 12:  # the largest escaped code point must fit
            raise ValueError("max_chunk_bytes is too small")
        self._window = window
        self._flush_chars = flush_chars
        self._max_bytes = max_chunk_bytes
        self._eager_first = eager_first
        self._clock = clock
        self._pieces: list[str] = []
        self._chars = 0
        self._first_at: float | None = None
        self._emitted = False
        self._not_before = 0.0

    def hold_until(self, not_before: float) -> None:
        """Release nothing before ``not_before`` (clock time)."""
        self._not_before = not_before

    def feed(self, piece: str) -> list[str]:
        """Buffer a piece; return the chunks that are due now (often none)."""
        if not piece:
            return []
        now = self._clock()
        if self._first_at is None:
            self._first_at = now
        self._pieces.append(piece)
        self._chars += len(piece)
        if now < self._not_before:
            return []
        if (
            (self._eager_first and not self._emitted)
            or self._chars >= self._flush_chars
            or now - self._first_at >= self._window
        ):
            return self.flush()
        return []

    def poll(self) -> list[str]:
        """The buffered text if its window has passed, else nothing."""
        due = self.due_at()
        return self.flush() if due is not None and self._clock() >= due else []

    def due_at(self) -> float | None:
        """When the buffered text must go out (clock time), or None with nothing buffered."""
        if self._first_at is None:
            return None
        return max(self._first_at + self._window, self._not_before)

    def pending(self) -> bool:
        """Whether text is buffered."""
        return bool(self._pieces)

    def drop(self) -> None:
        """Forget what is buffered (an answer ending before it was due: never sent, never
        part of the answer)."""
        self._pieces.clear()
        self._chars = 0
        self._first_at = None

    def flush(self) -> list[str]:
        """Everything buffered, as chunks within the size limit."""
        if not self._pieces:
            return []
        text = "".join(self._pieces)
        self._pieces.clear()
        self._chars = 0
        self._first_at = None
        self._emitted = True
        return split_for_frames(text, self._max_bytes)


def json_size(text: str) -> int:
    """Bytes of ``text`` as a JSON string body (without quotes), all non-ASCII escaped."""
    return len(json.dumps(text)) - 2


def prefix_within(text: str, max_bytes: int) -> str:
    """The longest prefix of ``text`` whose ``json_size`` is at most ``max_bytes`` (cut
    between code points, never inside a surrogate pair); "" when not even the first
    character fits."""
    size = 0
    for index, char in enumerate(text):
        size += _char_json_size(char)
        if size > max_bytes:
            if index and _is_low_surrogate(char) and _is_high_surrogate(text[index - 1]):
                index -= 1  # keep the pair together
            return text[:index]
    return text


def split_for_frames(text: str, max_bytes: int = MAX_CHUNK_BYTES) -> list[str]:
    """Split ``text`` into the fewest pieces whose ``json_size`` is at most ``max_bytes``
    (at least 12: the largest escaped code point)."""
    if json_size(text) <= max_bytes:
        return [text]
    chunks: list[str] = []
    start = size = 0
    index = 0
    while index < len(text):
        char_size = _char_json_size(text[index])
        if size + char_size > max_bytes:
            cut = index
            if (
                _is_low_surrogate(text[cut])
                and cut - 1 > start
                and _is_high_surrogate(text[cut - 1])
            ):
                cut -= 1  # keep the pair together
            chunks.append(text[start:cut])
            start, size, index = cut, 0, cut
            continue
        size += char_size
        index += 1
    chunks.append(text[start:])
    return chunks


def _char_json_size(char: str) -> int:
    if char in '"\\\b\f\n\r\t':
        return 2
    code = ord(char)
    if 0x20 <= code < 0x7F:
        return 1
    return 12 if code > 0xFFFF else 6


def _is_high_surrogate(char: str) -> bool:
    return 0xD800 <= ord(char) <= 0xDBFF


def _is_low_surrogate(char: str) -> bool:
    return 0xDC00 <= ord(char) <= 0xDFFF
