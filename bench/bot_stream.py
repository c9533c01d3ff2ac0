"""Bot streaming figures: WebSocket frames per answer with and without coalescing, and the
latency coalescing adds.

The fake Gemini streams 200 one-word tokens over 2 s (an SSE event every 10 ms) through the
real SDK and chat.bot.gemini. Each piece is fed, as it arrives, to coalescers driven the way
a synchronous worker would drive them (``feed`` per piece, ``flush`` at the end):

- "per SDK chunk": no coalescing, one frame per piece;
- "coalesced, eager first": the first piece at once, then 100 ms windows (the default);
- "coalesced, window only": the first piece waits for its window too.

"first flush overhead" is the time from the first piece arriving to the first chunk being
ready; "added latency" is how long pieces wait in the buffer before their chunk is ready.

Run: .venv/bin/python bench/bot_stream.py
"""

from __future__ import annotations

import statistics
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

# Run as a script: the import paths pytest gets from pyproject.toml's `pythonpath`.
_ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(_ROOT), str(_ROOT / "layers" / "shared")]

from chat.bot.coalesce import ChunkCoalescer  # noqa: E402
from chat.bot.context import Turn  # noqa: E402
from chat.bot.gemini import GeminiClient  # noqa: E402
from local.fake_gemini import FakeGemini, Reply, start  # noqa: E402

TOKENS, SECONDS, RUNS = 200, 2.0, 3


@dataclass
class Driver:
    name: str
    coalescer: ChunkCoalescer | None
    frames: int = 0
    first_overhead: float | None = None
    waits: list[float] = field(default_factory=list)
    _pending: list[float] = field(default_factory=list)  # arrival times of buffered pieces

    def feed(self, piece: str, arrived: float) -> None:
        chunks = self.coalescer.feed(piece) if self.coalescer else [piece]
        self._pending.append(arrived)
        self._emit(chunks)

    def finish(self) -> None:
        if self.coalescer:
            self._emit(self.coalescer.flush())

    def _emit(self, chunks: list[str]) -> None:
        if not chunks:
            return
        ready = time.perf_counter()
        if self.first_overhead is None:
            self.first_overhead = ready - self._pending[0]
        self.waits += [ready - arrived for arrived in self._pending]
        self._pending.clear()
        self.frames += len(chunks)


def drivers() -> list[Driver]:
    return [
        Driver("per SDK chunk", None),
        Driver("coalesced, eager first", ChunkCoalescer(clock=time.perf_counter)),
        Driver(
            "coalesced, window only",
            ChunkCoalescer(clock=time.perf_counter, eager_first=False),
        ),
    ]


def one_answer(client: GeminiClient, fake: FakeGemini) -> tuple[list[Driver], float, int]:
    fake.script(Reply(tokens=TOKENS, seconds=SECONDS, words_per_event=1))
    runs = drivers()
    started = time.perf_counter()
    stream = client.stream_answer(
        model="gemini-2.5-flash",
        system_instruction="bench",
        contents=[Turn("user", "alice: @bot write a long answer")],
        timeout=10,
    )
    pieces = 0
    for piece in stream:
        arrived = time.perf_counter()
        pieces += 1
        for driver in runs:
            driver.feed(piece, arrived)
    for driver in runs:
        driver.finish()
    return runs, time.perf_counter() - started, pieces


def main() -> None:
    with start() as fake:
        client = GeminiClient("bench-key", base_url=fake.base_url)
        one_answer(client, fake)  # warm-up: imports, connection
        results = [one_answer(client, fake) for _ in range(RUNS)]
        client.close()

    print(f"fake Gemini: {TOKENS} tokens over {SECONDS:g} s, one token per SSE event; {RUNS} runs")
    print(
        f"answer wall time: {statistics.median(r[1] for r in results):.2f} s median; "
        f"SDK pieces per answer: {results[0][2]}"
    )
    header = (
        f"{'':26}{'frames/answer':>14}{'first flush overhead':>22}"
        f"{'added latency mean':>20}{'max':>9}"
    )
    print(header)
    for index, name in enumerate(d.name for d in results[0][0]):
        runs = [r[0][index] for r in results]
        frames = statistics.median(d.frames for d in runs)
        overhead = statistics.median(d.first_overhead or 0.0 for d in runs)
        waits = [w for d in runs for w in d.waits]
        print(
            f"{name:26}{frames:>14.0f}{overhead * 1000:>19.3f} ms"
            f"{statistics.mean(waits) * 1000:>17.1f} ms{max(waits) * 1000:>6.0f} ms"
        )

    coalescer = ChunkCoalescer()
    started = time.perf_counter()
    for _ in range(100_000):
        coalescer.feed("word ")
    coalescer.flush()
    per_feed = (time.perf_counter() - started) / 100_000
    print(f"coalescer CPU cost: {per_feed * 1e6:.2f} µs per piece fed")


if __name__ == "__main__":
    main()
