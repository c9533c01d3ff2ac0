"""Big rooms' fan-out, the pure parts: planning a broadcast into buckets, spreading its
buckets within the send budget, the fan-out queue's message, and packing shards into SQS
batches (docs/big-rooms.md)."""

from __future__ import annotations

import json
from collections import Counter

import pytest

from chat.adapters.fanout_queue import SQS_BATCH_BYTES, batches
from chat.logic.realtime.broadcast import BURST_SECONDS, MAX_SPREAD_SECONDS, message_spread
from chat.logic.realtime.shards import bucket_of, plan
from chat.queued_shard import QueuedShard


def ids(n: int, prefix: str = "c") -> list[str]:
    return [f"{prefix}{i:05d}=" for i in range(n)]


# ------------------------------------------------------------------------------ planning
@pytest.mark.parametrize("n", [0, 1, 250])
def test_up_to_the_threshold_the_caller_pushes_to_all(n):
    result = plan(ids(n), threshold=250, shard_size=250)
    assert result.inline == ids(n)
    assert result.shards == {} and result.queued == 0


def test_above_the_threshold_every_connection_is_in_exactly_one_part():
    connections = ids(10_000)
    result = plan(connections, threshold=250, shard_size=250)
    assert len(result.shards) == 39  # buckets 1..39; bucket 0 is the caller's
    assert set(result.shards) == set(range(1, 40))
    parts = [result.inline, *result.shards.values()]
    every = [c for part in parts for c in part]
    assert sorted(every) == sorted(connections) and len(every) == len(set(every))
    assert result.queued == 10_000 - len(result.inline)


def test_buckets_are_about_the_shard_size():
    result = plan(ids(10_000), threshold=250, shard_size=250)
    sizes = [len(result.inline), *(len(s) for s in result.shards.values())]
    assert max(sizes) < 250 * 1.35 and min(sizes) > 250 * 0.65  # a hash, not a cut


def test_the_senders_socket_is_pushed_first_and_inline_whatever_its_bucket():
    connections = ids(1000)
    sender = next(c for c in connections if bucket_of(c, 4) != 0)
    result = plan(connections, threshold=250, shard_size=250, first=sender)
    assert result.inline[0] == sender
    assert all(sender not in shard for shard in result.shards.values())
    assert sum(c == sender for c in result.inline) == 1


def test_a_connection_keeps_its_bucket_when_others_join_or_leave():
    room = ids(1000)
    before = plan(room, threshold=250, shard_size=250)
    after = plan(room[7:] + ids(5, "new"), threshold=250, shard_size=250)  # still 4 buckets
    where_before = {c: b for b, shard in before.shards.items() for c in shard}
    where_after = {c: b for b, shard in after.shards.items() for c in shard}
    for connection, bucket in where_after.items():
        if connection in where_before:
            assert where_before[connection] == bucket
    assert set(before.inline) & set(room[7:]) <= set(after.inline)


def test_duplicates_are_pushed_once():
    result = plan(["a", "b", "a", "b", "c"], threshold=2, shard_size=1)
    everyone = result.inline + [c for shard in result.shards.values() for c in shard]
    assert Counter(everyone) == Counter({"a": 1, "b": 1, "c": 1})


def test_a_threshold_below_one_shard_pushes_inline():
    # more recipients than the threshold, but they fit one shard: nothing to queue
    assert plan(ids(5), threshold=3, shard_size=10).shards == {}


@pytest.mark.parametrize(("threshold", "shard_size"), [(0, 10), (10, 0)])
def test_a_bad_setting_is_refused(threshold, shard_size):
    with pytest.raises(ValueError):
        plan(ids(5), threshold=threshold, shard_size=shard_size)


# ------------------------------------------------------------------------------ spreading
def throttled_at_once(n: int, budget: int, shard_size: int, spread: float) -> int:
    """Pushes API Gateway's account throttle (a token bucket: ``budget`` a second, a burst of
    BURST_SECONDS of it) refuses when a frame's buckets begin ``b / B`` of ``spread`` apart
    and each bucket's pushes all go at once (the worst case: in truth they take a while)."""
    planned = plan(ids(n), threshold=shard_size, shard_size=shard_size)
    sizes = [len(planned.inline)] + [len(c) for c in planned.shards.values()]
    buckets = len(sizes)
    tokens, last, refused = budget * BURST_SECONDS, 0.0, 0
    for bucket, size in enumerate(sizes):
        at = spread * bucket / buckets
        tokens = min(budget * BURST_SECONDS, tokens + (at - last) * budget)
        last = at
        taken = min(size, int(tokens))
        tokens -= taken
        refused += size - taken
    return refused


@pytest.mark.parametrize(
    ("n", "budget", "shard_size"),
    [(10_000, 10_000, 250), (7_500, 10_000, 250), (10_000, 2_500, 250), (2_000, 1_000, 100)],
)
def test_a_big_frames_buckets_are_spread_within_the_send_budget(n, budget, shard_size):
    buckets = len(plan(ids(n), threshold=shard_size, shard_size=shard_size).shards) + 1
    spread = message_spread(n, budget, buckets)
    assert throttled_at_once(n, budget, shard_size, spread) == 0
    assert throttled_at_once(n, budget, shard_size, 0.0) > 0  # all at once: refused in part
    # and not much longer than the budget needs: 15 % less would be refused in part
    assert throttled_at_once(n, budget, shard_size, spread * 0.85) > 0


def test_a_frame_the_burst_takes_whole_is_not_spread():
    assert message_spread(4_750, 10_000, 20) == 0.0
    assert message_spread(1_000, 10_000, 4) == 0.0
    assert message_spread(10_000, 10_000, 40) == pytest.approx(0.525 * 40 / 39)  # ~0.54 s


def test_a_spread_is_bounded():
    assert message_spread(10_000, 1, 40) == MAX_SPREAD_SECONDS


# ------------------------------------------------------------------------------ the message
def test_the_reader_gets_back_the_very_bytes_the_writer_sent():
    frame = '{"type":"message","content":"ünïcødé 🎉 \\u0000 \uffff \\"q\\""}'.encode()
    original = shard(frame)
    body = original.body()
    assert body.isascii()  # SQS refuses U+FFFF and a few others: every non-ASCII escaped
    assert QueuedShard.from_body(body) == original


def test_a_shard_is_grouped_by_room_and_bucket_and_deduplicated_by_its_id():
    assert shard().group_id == "room1.2"
    assert shard().deduplication_id == "01HX.2"


@pytest.mark.parametrize(
    "body", ["{}", '{"shard_id": "x"}', '{"shard_id":"x","room_id":"r","bucket":1,'
    '"connections":"a","frame":"{}"}', "not json"]
)  # fmt: skip
def test_a_body_that_is_no_shard_is_refused(body):
    with pytest.raises((KeyError, ValueError, TypeError)):
        QueuedShard.from_body(body)


def test_the_largest_shard_fits_one_sqs_message():
    # a frame at the WebSocket limit, all of it escaped (6 bytes a character), 1000 ids
    frame = json.dumps({"content": "\u00e9" * 10_000}, ensure_ascii=False).encode()
    body = shard(frame[: 32 * 1024 - 2] + b'"}', 1000).body()
    assert len(body.encode()) <= SQS_BATCH_BYTES


def shard(frame: bytes = b'{"type":"message","content":"hi"}', n: int = 3) -> QueuedShard:
    return QueuedShard("01HX.2", "room1", 2, tuple(ids(n)), frame)


# ------------------------------------------------------------------------------ SQS batches
def test_batches_hold_at_most_ten_messages_and_256_kib():
    bodies = ["x" * 100] * 25 + ["y" * 100_000] * 5
    groups = list(batches(bodies))
    assert [i for group in groups for i in group] == list(range(30))
    for group in groups:
        assert len(group) <= 10
        assert sum(len(bodies[i]) for i in group) <= SQS_BATCH_BYTES
    assert [len(g) for g in groups[:3]] == [10, 10, 7]  # 5 small + 2 large fill the third


def test_a_body_over_the_limit_is_refused():
    with pytest.raises(ValueError):
        list(batches(["z" * (SQS_BATCH_BYTES + 1)]))
