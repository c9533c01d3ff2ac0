"""A bot answer's pace in a big room: the frame spacing for its share of the send budget,
the back-off when throttled, the coalescer keeping to it, and what a paced answer leaves
unsent when it ends early (docs/big-rooms.md)."""

from __future__ import annotations

import itertools
import math

import pytest

from chat.logic.bot.budget import BUDGET
from chat.logic.bot.coalesce import ChunkCoalescer
from chat.logic.bot.pacing import MAX_BACKOFF, SendPacer, frame_spacing
from chat.logic.bot.reader import AnswerReader
from chat.logic.bot.transcript import Transcript

SHARE = 10_000 / 5  # the default budget over the default answers at once


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


@pytest.mark.parametrize(
    ("recipients", "spacing"),
    [
        (3, 0.0),  # a small room: as fast as the coalescer goes
        (100, 0.0),  # the contract paces rooms of more than 100
        (101, 0.1),  # the coalescer's own window at least
        (500, 0.25),
        (1000, 0.5),
        (1900, 0.95),
        (2000, 0.98),  # the contract's 1 s at most, less the pushes' jitter
        (10_000, 0.98),  # over the share
    ],
)
def test_frames_are_spaced_for_the_rooms_share_of_the_budget(recipients, spacing):
    assert frame_spacing(recipients, SHARE, 0.1) == pytest.approx(spacing)


@pytest.mark.parametrize(
    ("recipients", "spacing"),
    [
        (2000, 0.98),
        (9_700, 0.98),  # a frame every 0.98 s is 9,900 pushes a second
        (9_800, 0.9898),  # the budget, less 1 %
        (10_000, 1.01),
        (12_000, 1.212),  # a room's people on several devices each
    ],
)
def test_no_room_is_paced_faster_than_the_accounts_whole_budget(recipients, spacing):
    assert frame_spacing(recipients, SHARE, 0.1, budget=10_000) == pytest.approx(spacing)
    pacer = SendPacer(share=SHARE, base_window=0.1, budget=10_000, clock=Clock())
    assert pacer.spacing(recipients) == pytest.approx(spacing)


def test_the_first_frame_is_spaced_for_the_recipients_it_is_for():
    pacer = SendPacer(share=SHARE, base_window=0.1, clock=Clock())
    # before any frame the pacer has no room size; the frame about to go gives it one
    assert pacer.spacing() == 0.0
    assert pacer.spacing(10_000) == pytest.approx(0.98)
    assert pacer.spacing(1000) == pytest.approx(0.5)
    pacer.sent(1000, throttled=3)  # backing off counts for the frame about to go too
    assert pacer.spacing(1000) == pytest.approx(1.0)


def test_a_room_over_the_share_is_told_so():
    pacer = SendPacer(share=SHARE, base_window=0.1, clock=Clock())
    pacer.sent(1999)
    assert pacer.paced and not pacer.over_share
    pacer.sent(2001)
    assert pacer.over_share


def test_throttled_pushes_back_off_up_to_four_times_then_recover_by_halves():
    clock = Clock()
    pacer = SendPacer(share=SHARE, base_window=0.1, clock=clock)
    backed = [pacer.sent(1000, throttled=5) for _ in range(4)]
    assert backed == [True, True, False, False]  # 2x, 4x, then at the ceiling
    assert pacer.backoff == MAX_BACKOFF and pacer.spacing() == pytest.approx(2.0)
    pacer.sent(1000)
    assert pacer.spacing() == pytest.approx(1.0)  # 0.5 s, twice
    pacer.sent(1000)
    pacer.sent(1000)
    assert pacer.spacing() == pytest.approx(0.5)


def test_a_small_room_backs_off_too_when_throttled():
    pacer = SendPacer(share=SHARE, base_window=0.1, clock=Clock())
    pacer.sent(10, throttled=1)
    assert pacer.spacing() == pytest.approx(0.2)


def test_a_frame_sent_early_is_paid_for_by_the_next():
    clock = Clock()
    pacer = SendPacer(share=SHARE, base_window=0.1, clock=clock)
    pacer.sent(1000)  # next at 0.5
    pacer.sent(1000)  # sent at once (urgent): next at 1.0
    assert pacer.wait() == pytest.approx(1.0)
    clock.now = 0.8
    assert pacer.wait() == pytest.approx(0.2)


def test_the_coalescer_releases_nothing_before_its_turn():
    clock = Clock()
    coalescer = ChunkCoalescer(window=0.1, flush_chars=10, clock=clock)
    coalescer.hold_until(0.5)
    assert coalescer.feed("first") == []  # not even the eager first piece
    clock.now = 0.45
    assert coalescer.feed(" and a long piece") == []  # nor a full buffer
    assert coalescer.due_at() == pytest.approx(0.5)
    clock.now = 0.5
    assert coalescer.poll() == ["first and a long piece"]
    coalescer.hold_until(0.2)  # a turn long past: the window counts again
    assert coalescer.feed("next") == []
    assert coalescer.due_at() == pytest.approx(0.6)


def _paced_answer(recipients: int, pieces: int, seconds: float) -> list[tuple[float, str]]:
    """An answer whose model sends `pieces` words evenly over `seconds`, through the
    coalescer and the pacer as the reader drives them: (time, chunk) of each frame."""
    clock = Clock()
    pacer = SendPacer(share=SHARE, base_window=BUDGET.coalesce_window, clock=clock)
    coalescer = ChunkCoalescer(window=BUDGET.coalesce_window, clock=clock)
    frames: list[tuple[float, str]] = []

    def send(chunks: list[str]) -> None:
        for chunk in chunks:
            clock.now += pacer.wait()  # the feed waits for its turn (0 when due)
            frames.append((clock.now, chunk))
            pacer.sent(recipients)

    pacer.sent(recipients)  # the reply's row
    clock.now += pacer.wait()
    pacer.sent(recipients)  # typing
    step = seconds / pieces
    for index in range(pieces):
        target = (index + 1) * step + 1.0
        while (due := _due(coalescer, pacer)) is not None and due <= target:
            clock.now = max(clock.now, due)
            send(coalescer.poll())
        clock.now = max(clock.now, target)
        coalescer.hold_until(pacer.next_at)
        send(coalescer.feed(f"w{index} "))
    coalescer.hold_until(pacer.next_at)
    clock.now = max(clock.now, pacer.next_at)
    send(coalescer.flush())
    return frames


def _due(coalescer: ChunkCoalescer, pacer: SendPacer) -> float | None:
    coalescer.hold_until(pacer.next_at)
    return coalescer.due_at()


@pytest.mark.parametrize("recipients", [10, 150, 1000, 2000])
def test_an_answer_keeps_within_its_share_and_loses_no_text(recipients):
    frames = _paced_answer(recipients, pieces=300, seconds=6.0)
    assert "".join(chunk for _, chunk in frames) == "".join(f"w{i} " for i in range(300))
    if recipients <= 100:
        assert len(frames) > 30  # 0.1 s windows: the small room's pace is unchanged
        return
    times = [t for t, _ in frames]
    # in any second, frames x recipients stay within the share (a frame at each edge counts)
    for start in times:
        in_window = sum(1 for t in times if start <= t < start + 1.0)
        assert in_window * recipients <= SHARE + recipients
    gaps = [b - a for a, b in itertools.pairwise(times)]
    assert max(gaps) <= 1.0 + 1e-9  # the contract's 1 s
    assert len(frames) <= math.ceil(6.0 / frame_spacing(recipients, SHARE, 0.1)) + 2


def _reader(pacer: SendPacer) -> tuple[AnswerReader, list[list[str]]]:
    sent: list[list[str]] = []
    transcript = Transcript("room", "reply", "command", max_bytes=10_000)
    return AnswerReader(transcript, sent.append, lambda: None, BUDGET, pacer), sent


def test_a_paced_answer_ended_early_leaves_text_not_yet_due_unsent():
    pacer = SendPacer(share=SHARE, base_window=0.1)  # the reader's clock: monotonic
    pacer.sent(1000)  # the next frame may go at 0.5
    reader, sent = _reader(pacer)
    reader.coalescer.hold_until(pacer.next_at)
    with pytest.raises(RuntimeError), reader:
        assert reader.coalescer.feed("not yet due") == []
        raise RuntimeError("stopped")
    assert sent == [] and not reader.coalescer.pending()


def test_a_paced_answer_that_completes_sends_everything():
    pacer = SendPacer(share=SHARE, base_window=0.1)
    pacer.sent(1000)
    reader, sent = _reader(pacer)
    reader.coalescer.hold_until(pacer.next_at)
    with reader:
        assert reader.coalescer.feed("the end") == []
    assert sent == [["the end"]]


def test_the_next_turn_counts_from_when_a_frames_pushes_began():
    clock = Clock()
    pacer = SendPacer(share=SHARE, base_window=0.1, clock=clock)
    clock.now = 0.3  # the frame's pushes took 0.3 s
    pacer.sent(1000, at=0.0)
    assert pacer.next_at == pytest.approx(0.5)  # frames 0.5 s apart, start to start
    assert pacer.wait() == pytest.approx(0.2)
