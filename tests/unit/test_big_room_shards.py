"""Big rooms' fan-out, the pure parts: planning a broadcast into buckets, spreading its
buckets within the send budget, the fan-out queue's message, and packing shards into SQS
batches (docs/big-rooms.md)."""

from __future__ import annotations

import itertools
import json
import zlib
from collections import Counter

import pytest

from chat.adapters.fanout_queue import SQS_BATCH_BYTES, batches
from chat.dal.connections import SubscriberPage
from chat.logic.realtime.broadcast import (
    BURST_SECONDS,
    MAX_SPREAD_SECONDS,
    PUSH_FLOOR_SECONDS,
    message_spread,
)
from chat.logic.realtime.fanout import PUSH_POOL_SIZE
from chat.logic.realtime.shards import buckets, plan
from chat.queued_shard import SLOTS, QueuedShard, bucket_of, slot_of, slot_range


def ids(n: int, prefix: str = "c") -> list[str]:
    return [f"{prefix}{i:05d}=" for i in range(n)]


# ------------------------------------------------------------------------------ slots
def test_a_connections_slot_and_bucket_follow_from_its_id_alone():
    assert slot_of("abc=") == zlib.crc32(b"abc=") % SLOTS
    for connection in ids(500):
        for count in (2, 4, 64, SLOTS):
            first, last = slot_range(bucket_of(connection, count), count)
            assert first <= slot_of(connection) <= last


@pytest.mark.parametrize("count", [2, 8, 64, 4096])
def test_the_buckets_ranges_cover_every_slot_once_in_order(count):
    ranges = [slot_range(b, count) for b in range(count)]
    assert ranges[0][0] == 0 and ranges[-1][1] == SLOTS - 1
    for (_, last), (first, _) in itertools.pairwise(ranges):
        assert first == last + 1


def test_a_bucket_splits_in_two_when_the_count_doubles():
    # the ranges nest: a bucket of B is buckets 2b and 2b + 1 of 2B
    for bucket in range(16):
        first, last = slot_range(bucket, 16)
        assert slot_range(2 * bucket, 32)[0] == first and slot_range(2 * bucket + 1, 32)[1] == last


# ------------------------------------------------------------------------------ bucket count
@pytest.mark.parametrize(
    ("recipients", "expected"),
    [(1, 2), (251, 2), (500, 2), (501, 4), (1_000, 4), (1_001, 8), (8_000, 32), (10_000, 64)],
)
def test_the_bucket_count_is_the_least_power_of_two_with_buckets_of_at_most_the_shard_size(
    recipients, expected
):
    assert buckets(recipients, 250) == expected


def test_the_bucket_count_holds_while_a_room_stays_within_its_power_of_two():
    assert {buckets(n, 250) for n in range(8_001, 16_001, 97)} == {64}
    assert buckets(10**9, 1) == SLOTS


def test_the_first_pages_estimate_of_a_room_is_close_and_its_bucket_count_stable():
    # a room of 10,000 read a page of 251 in slot order, for 50 rooms of different ids
    counts = set()
    for room in range(50):
        room_ids = sorted(ids(10_000, f"r{room}-"), key=slot_of)
        page = room_ids[:251]
        last_slot = slot_of(room_ids[251])  # the page's LastEvaluatedKey
        estimate = SubscriberPage([], complete=False, read=251, last_slot=last_slot).estimate()
        assert 8_000 < estimate < 12_500
        counts.add(buckets(estimate, 250))
        high = SubscriberPage([], False, 251, last_slot).estimate(deviations=2.0)
        assert high > estimate * 1.1
        assert all(slot_of(c) <= last_slot for c in page)
    assert counts == {64}


def test_a_complete_page_is_the_room():
    assert SubscriberPage([{"connection_id": "a"}] * 3, complete=True).estimate() == 3  # type: ignore[list-item]


# ------------------------------------------------------------------------------ planning
@pytest.mark.parametrize("n", [0, 1, 250])
def test_up_to_the_threshold_the_caller_pushes_to_all(n):
    result = plan(ids(n), threshold=250, shard_size=250)
    assert result.inline == ids(n)
    assert result.shards == {} and result.queued == 0


def test_above_the_threshold_every_connection_is_in_exactly_one_part():
    connections = ids(10_000)
    result = plan(connections, threshold=250, shard_size=250)
    assert result.buckets == 64 and set(result.shards) == set(range(1, 64))  # 0: the caller's
    parts = [result.inline, *result.shards.values()]
    every = [c for part in parts for c in part]
    assert sorted(every) == sorted(connections) and len(every) == len(set(every))
    assert result.queued == 10_000 - len(result.inline)
    for bucket, shard in result.shards.items():  # each bucket is its range of slots
        first, last = slot_range(bucket, 64)
        assert all(first <= slot_of(c) <= last for c in shard)


def test_buckets_are_at_most_about_the_shard_size():
    result = plan(ids(10_000), threshold=250, shard_size=250)
    sizes = [len(result.inline), *(len(s) for s in result.shards.values())]
    assert max(sizes) < 250 and min(sizes) > 10_000 / 64 * 0.65  # a hash, not a cut


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


def test_above_the_threshold_a_frame_is_sharded_even_in_fewer_than_a_shards_size():
    result = plan(ids(5), threshold=3, shard_size=10)
    assert result.buckets == 2
    assert sorted(result.inline + [c for s in result.shards.values() for c in s]) == ids(5)


@pytest.mark.parametrize(("threshold", "shard_size"), [(0, 10), (10, 0)])
def test_a_bad_setting_is_refused(threshold, shard_size):
    with pytest.raises(ValueError):
        plan(ids(5), threshold=threshold, shard_size=shard_size)


# ------------------------------------------------------------------------------ spreading
def throttled(n: int, budget: int, shard_size: int, spread: float) -> int:
    """Pushes API Gateway's account throttle (a token bucket: ``budget`` a second, a burst of
    BURST_SECONDS of it) refuses when a frame's buckets begin ``b / B`` of ``spread`` apart
    and each bucket's pushes go as fast as they can: rounds of PUSH_POOL_SIZE at once, each
    round PUSH_FLOOR_SECONDS after the one before (the worst case: in truth they take
    longer)."""
    planned = plan(ids(n), threshold=shard_size, shard_size=shard_size)
    sizes = [len(planned.inline)] + [
        len(planned.shards.get(b, [])) for b in range(1, planned.buckets)
    ]
    count = len(sizes)
    pushes = sorted(
        spread * bucket / count + (i // PUSH_POOL_SIZE) * PUSH_FLOOR_SECONDS
        for bucket, size in enumerate(sizes)
        for i in range(size)
    )
    tokens, last, refused = budget * BURST_SECONDS, 0.0, 0
    for at in pushes:
        tokens = min(budget * BURST_SECONDS, tokens + (at - last) * budget)
        last = at
        if tokens >= 1:
            tokens -= 1
        else:
            refused += 1
    return refused


@pytest.mark.parametrize(
    ("n", "budget", "shard_size"),
    [(10_000, 10_000, 250), (7_500, 10_000, 250), (10_000, 2_500, 250), (2_000, 1_000, 100)],
)
def test_a_big_frames_buckets_are_spread_within_the_send_budget(n, budget, shard_size):
    count = plan(ids(n), threshold=shard_size, shard_size=shard_size).buckets
    spread = message_spread(n, budget, count)
    assert throttled(n, budget, shard_size, spread) == 0
    assert throttled(n, budget, shard_size, 0.0) > 0  # all at once: refused in part
    # and not much longer than the budget needs: 15 % less would be refused in part
    assert throttled(n, budget, shard_size, spread * 0.85) > 0


def test_a_frame_the_burst_takes_whole_is_not_spread():
    assert message_spread(4_750, 10_000, 32) == 0.0
    assert message_spread(1_000, 10_000, 4) == 0.0
    # 10,000 in 64 buckets of ~156 (5 rounds of 32 pushes, 4 after the first)
    expected = ((10_000 + 10_000 / 64) / 10_000 - 0.5 - 4 * PUSH_FLOOR_SECONDS) * 64 / 63
    assert message_spread(10_000, 10_000, 64) == pytest.approx(expected)  # ~0.48 s


def test_a_spread_is_bounded():
    assert message_spread(10_000, 1, 64) == MAX_SPREAD_SECONDS


# ------------------------------------------------------------------------------ the message
def test_the_reader_gets_back_the_very_bytes_the_writer_sent():
    frame = '{"type":"message","content":"ünïcødé 🎉 \\u0000 \uffff \\"q\\""}'.encode()
    original = shard(frame)
    body = original.body()
    assert body.isascii()  # SQS refuses U+FFFF and a few others: every non-ASCII escaped
    assert QueuedShard.from_body(body) == original


def test_a_range_shard_reads_back_as_it_was_written():
    original = QueuedShard(
        "01HX.5",
        "room1",
        5,
        (),
        b"{}",
        not_before=1.5,
        buckets=64,
        slots=slot_range(5, 64),
        exclude_user_id="u1",
        skip=("me=",),
    )
    body = json.loads(original.body())
    assert body["slots"] == [320, 383] and "connections" not in body
    assert QueuedShard.from_body(original.body()) == original


def test_a_shard_is_grouped_by_room_bucket_count_and_bucket_and_deduplicated_by_its_id():
    assert shard().group_id == "room1.1.2"
    assert shard().deduplication_id == "01HX.2"


@pytest.mark.parametrize(
    "body", ["{}", '{"shard_id": "x"}', '{"shard_id":"x","room_id":"r","bucket":1,'
    '"connections":"a","frame":"{}"}', '{"shard_id":"x","room_id":"r","bucket":1,'
    '"slots":[5,4096],"frame":"{}"}', "not json"]
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
