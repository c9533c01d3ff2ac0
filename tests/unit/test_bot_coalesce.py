"""The chunk coalescer: when it releases text, and that it never loses, reorders or
oversizes any."""

from __future__ import annotations

import itertools
import json
import random

import pytest

from chat.logic.bot.coalesce import ChunkCoalescer, json_size, split_for_frames


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def coalescer(clock: Clock, **kwargs) -> ChunkCoalescer:
    return ChunkCoalescer(clock=clock, **kwargs)


def test_the_first_piece_goes_out_at_once_then_pieces_wait_for_the_window():
    clock = Clock()
    c = coalescer(clock, window=0.1)

    assert c.feed("Hello") == ["Hello"]
    assert c.feed(" there") == []
    clock.advance(0.06)
    assert c.feed(", how") == []
    clock.advance(0.06)  # over 100 ms since " there" was buffered
    assert c.feed(" are") == [" there, how are"]


def test_without_eager_first_the_first_piece_waits_too():
    clock = Clock()
    c = coalescer(clock, window=0.1, eager_first=False)

    assert c.feed("Hello") == []
    clock.advance(0.11)
    assert c.feed(" world") == ["Hello world"]


def test_poll_releases_buffered_text_once_its_window_has_passed():
    clock = Clock()
    c = coalescer(clock, window=0.1, eager_first=False)
    c.feed("a")
    clock.advance(0.04)
    c.feed("b")

    assert c.due_at() == pytest.approx(0.1)
    clock.advance(0.05)
    assert c.poll() == []
    clock.advance(0.02)
    assert c.poll() == ["ab"]
    assert c.due_at() is None
    assert c.poll() == []


def test_a_full_buffer_goes_out_before_the_window():
    clock = Clock()
    c = coalescer(clock, window=10, flush_chars=10, eager_first=False)

    assert c.feed("12345") == []
    assert c.feed("6789") == []
    assert c.feed("0ab") == ["1234567890ab"]


def test_flush_returns_whatever_is_left_and_nothing_twice():
    clock = Clock()
    c = coalescer(clock, window=10)
    c.feed("first")
    c.feed(" second")

    assert c.flush() == [" second"]
    assert c.flush() == []


def test_empty_pieces_are_ignored():
    clock = Clock()
    c = coalescer(clock, eager_first=False)

    assert c.feed("") == []
    assert c.due_at() is None
    assert c.flush() == []


def test_a_piece_bigger_than_a_frame_is_split_under_the_limit():
    clock = Clock()
    c = coalescer(clock, max_chunk_bytes=100)
    piece = "x" * 250

    chunks = c.feed(piece)

    assert chunks == ["x" * 100, "x" * 100, "x" * 50]


def test_limits_count_the_json_encoding_not_the_characters():
    # "é" is 1 character but 6 bytes as \u00e9; a quote is 2 as \"
    chunks = split_for_frames('é"' * 10, max_bytes=16)

    assert all(len(json.dumps(chunk)) - 2 <= 16 for chunk in chunks)
    assert chunks == ['é"é"', 'é"é"', 'é"é"', 'é"é"', 'é"é"']


def test_astral_characters_are_never_split():
    text = "🙂" * 5  # 12 bytes each as a surrogate pair escape
    chunks = split_for_frames(text, max_bytes=30)

    assert chunks == ["🙂🙂", "🙂🙂", "🙂"]


def test_a_surrogate_pair_held_as_two_code_points_stays_together():
    pair = "\ud83d\ude42"  # as a lax JSON decoder could produce it
    text = "ab" + pair * 3
    chunks = split_for_frames(text, max_bytes=14)

    assert "".join(chunks) == text
    for chunk in chunks:
        assert not ("\udc00" <= chunk[0] <= "\udfff"), chunks
        assert json_size(chunk) <= 14


@pytest.mark.parametrize("seed", range(20))
def test_random_streams_come_out_whole_in_order_and_within_limits(seed: int):
    rng = random.Random(seed)
    alphabet = ["a", " ", "\n", '"', "\\", "é", "中", "🙂", "\x01", "\x7f"]
    pieces = [
        "".join(rng.choice(alphabet) for _ in range(rng.choice([0, 1, 5, 40, 300])))
        for _ in range(60)
    ]
    clock = Clock()
    c = coalescer(clock, window=0.1, flush_chars=200, max_chunk_bytes=256)

    chunks: list[str] = []
    for piece in pieces:
        clock.advance(rng.random() * 0.06)
        chunks += c.feed(piece)
        if rng.random() < 0.2:
            chunks += c.poll()
    chunks += c.flush()

    assert "".join(chunks) == "".join(pieces)
    assert all(chunk for chunk in chunks)
    assert all(len(json.dumps(chunk)) - 2 <= 256 for chunk in chunks)


def test_sizes_match_the_encoder_for_every_kind_of_character():
    text = 'a"\\\b\f\n\r\t\x00\x1f\x7fé€中🙂\ud800'
    assert json_size(text) == len(json.dumps(text)) - 2

    chunks = split_for_frames(text, max_bytes=12)

    assert "".join(chunks) == text
    assert all(len(json.dumps(chunk)) - 2 <= 12 for chunk in chunks)
    # Greedy: each chunk is full, i.e. the next character would not have fitted.
    for chunk, following in itertools.pairwise(chunks):
        assert len(json.dumps(chunk + following[0])) - 2 > 12
