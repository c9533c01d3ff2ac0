"""The buckets' heads (chat.logic.search.heads): what a head holds after any sequence of
postings put and deleted, and that a bucket read from its head reads as it does without."""

from __future__ import annotations

import random

import pytest

from chat.dal.search_index import Bucket, Head, Page, admits
from chat.logic.search import heads, join


def _key(n: int, term: str) -> str:
    return f"01M{n:023d}#{term}"


def _holds_every_posting_above_its_floor(head: Head, bucket: dict[str, str | None], size: int):
    expected = sorted(
        (
            (key, viewer)
            for key, viewer in bucket.items()
            if head.floor is None or key >= head.floor
        ),
        reverse=True,
    )
    assert head.entries == expected
    assert len(head.entries) <= size


@pytest.mark.parametrize("size", [1, 2, 5, 32])
def test_a_head_holds_every_posting_of_its_bucket_at_or_above_its_floor(size):
    """New messages, edits of old ones (their terms come and go below the floor too),
    deletions, and the same change applied twice: the head is always exactly its bucket's
    postings from its floor up, at most `size` of them."""
    rng = random.Random(size)
    bucket: dict[str, str | None] = {}
    head = heads.from_newest([], size)
    newest = 0
    for _ in range(2_000):
        roll = rng.random()
        if roll < 0.5 or not bucket:
            newest += 1
            number = newest if rng.random() < 0.8 else rng.randint(1, newest)
            key = _key(number, rng.choice(("dep", "deploy", "deployment")))
            viewer = rng.choice((None, None, "bob"))
            bucket[key] = viewer
            heads.put(head, key, viewer, size)
            if rng.random() < 0.1:
                heads.put(head, key, viewer, size)  # a record delivered again
        else:
            key = rng.choice(sorted(bucket))
            del bucket[key]
            heads.delete(head, key)
            if rng.random() < 0.1:
                heads.delete(head, key)
        _holds_every_posting_above_its_floor(head, bucket, size)


def test_a_head_built_from_a_query_of_its_bucket():
    rows = [(_key(n, "ok"), None) for n in range(9, 0, -1)]
    assert heads.from_newest(rows[:4], 4) == Head(rows[:4], None)  # the whole bucket
    assert heads.from_newest(rows[:5], 4) == Head(rows[:4], rows[3][0])  # more below
    assert heads.from_newest([], 4) == Head([], None)  # an empty bucket


def test_a_change_says_whether_it_changed_the_head():
    head = heads.from_newest([(_key(5, "ok"), None), (_key(4, "ok"), None)], 1)
    assert head.floor == _key(5, "ok")
    assert heads.put(head, _key(3, "ok"), None, 1) is False  # below the floor
    assert heads.put(head, _key(5, "ok"), None, 1) is False  # already there
    assert heads.put(head, _key(6, "ok"), None, 1) is True
    assert head == Head([(_key(6, "ok"), None)], _key(6, "ok"))
    assert heads.delete(head, _key(5, "ok")) is False
    assert heads.delete(head, _key(6, "ok")) is True
    assert head == Head([], _key(6, "ok"))  # still nothing known below the floor


class Postings:
    """One bucket's postings, read as DynamoDB's Query reads them."""

    def __init__(self, rows: dict[str, str | None]) -> None:
        self.rows = rows
        self.reads = 0

    def read(self, bucket, *, below, inclusive, resume, viewer, limit) -> Page:
        self.reads += 1
        keys = sorted(self.rows, reverse=True)
        bound = None if below is None else below + ("$" if inclusive else "")
        if resume is not None and (bound is None or resume < bound):
            bound = resume
        if bound is not None:
            keys = [k for k in keys if k < bound]
        page, more = keys[:limit], len(keys) > limit
        ids: list[str] = []
        for key in page:
            if admits(bucket, key, self.rows[key], viewer):
                message_id = key.split("#", 1)[0]
                if not ids or ids[-1] != message_id:
                    ids.append(message_id)
        if not more:
            return Page(ids, None)
        return Page(ids, page[-1], stopped_at=page[-1].split("#", 1)[0])


@pytest.mark.parametrize("seed", range(40))
def test_a_cursor_started_from_a_head_yields_what_the_bucket_does(seed):
    """Walking a bucket down from random bounds, with and without its head, gives the same
    messages; with the head, the reads start below its floor."""
    rng = random.Random(seed)
    terms = ("dep", "deploy", "deployment", "deplete")
    rows = {
        _key(n, rng.choice(terms)): rng.choice((None, None, "bob", "carol"))
        for n in rng.sample(range(1, 400), rng.randint(0, 120))
    }
    bucket = rng.choice(
        [
            Bucket("r1", 6, "deploy", "all", "deploy"),
            Bucket("r1", 3, "dep", "exact", "deployment"),
            Bucket("r1", 3, "dep", "prefix", "depl"),
        ]
    )
    viewer = rng.choice((None, "bob"))
    size = rng.choice((1, 3, 32))
    head = heads.from_newest(sorted(rows.items(), reverse=True)[: size + 1], size)
    walks = []
    for seeded in (False, True):
        postings = Postings(rows)
        cursor = join.Cursor(bucket, postings.read, join.Budget(10_000), viewer=viewer, page_size=4)
        if seeded:
            cursor.seed(head)
        bounds = sorted({f"01M{n:023d}" for n in random.Random(seed).sample(range(1, 420), 30)})
        walk = [cursor.head(b, inclusive=True) for b in reversed(bounds)]
        walks.append((walk, postings.reads))
    assert walks[0][0] == walks[1][0]
    if head.floor is None:
        assert walks[1][1] == 0  # the whole bucket was in its head
