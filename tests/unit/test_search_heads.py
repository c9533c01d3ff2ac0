"""The buckets' heads and chunks (chat.logic.search.heads): what they hold after any
sequence of postings put and deleted, and that a bucket read from them reads as it does
without."""

from __future__ import annotations

import copy
import random

import pytest

from chat.dal.search_index import Bucket, Chunk, Head, Page, admitted, head_pk
from chat.logic.search import heads, join


def _key(n: int, term: str) -> str:
    return f"01M{n:023d}#{term}"


class Chain:
    """A bucket's head and chunks, changed with the functions the indexer uses (heads.put,
    seal, delete; holder_of finds the chunk of a posting below the head's floor)."""

    def __init__(self, size: int, chunk_size: int, chunk_max: int) -> None:
        self.head = heads.from_newest([], size)
        self.chunks: list[Chunk] = []  # oldest first: chunk n is chunks[n]
        self.size, self.chunk_size, self.chunk_max = size, chunk_size, chunk_max
        self.filled = 0  # seals into the newest chunk

    def _holder(self, key: str) -> Head | Chunk | None:
        if self.head.floor is None or key >= self.head.floor:
            return self.head
        index = heads.holder_of([chunk.floor for chunk in self.chunks], key)
        return None if index is None else self.chunks[index]

    def put(self, key: str, viewer: str | None) -> None:
        holder = self._holder(key)
        assert holder is not None  # a fresh bucket's chunks reach down to its oldest posting
        heads.put(holder, key, viewer)
        top = self.chunks[-1] if self.chunks else None
        sealed = heads.seal(self.head, top, self.size, self.chunk_size, self.chunk_max)
        if sealed is not None and sealed is not top:
            self.chunks.append(sealed)
        assert self.head.chunks == len(self.chunks)
        if sealed is top and top is not None:  # filled: never beyond chunk_max by sealing
            assert len(top.entries) <= self.chunk_max
            self.filled += 1

    def delete(self, key: str) -> None:
        holder = self._holder(key)
        assert holder is not None
        heads.delete(holder, key)

    def entries(self) -> list[tuple[str, str | None]]:
        """The head's postings, then each chunk's, newest first, each checked to be within
        its range (at or above its floor, below the next one's)."""
        found = list(self.head.entries)
        top = self.head.floor
        for chunk in reversed(self.chunks):
            assert top is not None
            assert all(key < top for key, _ in chunk.entries)
            assert all(chunk.floor is None or key >= chunk.floor for key, _ in chunk.entries)
            found += chunk.entries
            top = chunk.floor
        assert top is None  # the oldest chunk reaches down to the bucket's oldest posting
        return found


@pytest.mark.parametrize(
    ("size", "chunk_size", "chunk_max"),
    [(1, 1, 1), (2, 1, 3), (5, 3, 3), (5, 3, 8), (5, 5, 10), (48, 32, 96)],
)
def test_a_head_and_its_chunks_hold_every_posting_of_their_bucket(size, chunk_size, chunk_max):
    """New messages, edits of old ones (their terms come and go below the floor too),
    deletions, and the same change applied twice: the head and its chunks are always
    exactly their bucket's postings, newest first, the head never more than `size`, a chunk
    never more than `chunk_max` (and filled up to it before a new one is sealed)."""
    rng = random.Random(size * 100 + chunk_size * 10 + chunk_max)
    bucket: dict[str, str | None] = {}
    chain = Chain(size, chunk_size, chunk_max)
    newest = 0
    for _ in range(2_000):
        roll = rng.random()
        if roll < 0.6 or not bucket:
            newest += 1
            number = newest if rng.random() < 0.8 else rng.randint(1, newest)
            key = _key(number, rng.choice(("dep", "deploy", "deployment")))
            viewer = rng.choice((None, None, "bob"))
            bucket[key] = viewer
            chain.put(key, viewer)
            if rng.random() < 0.1:
                chain.put(key, viewer)  # a record delivered again
        else:
            key = rng.choice(sorted(bucket))
            del bucket[key]
            chain.delete(key)
            if rng.random() < 0.1:
                chain.delete(key)
        assert chain.entries() == sorted(bucket.items(), reverse=True)
        assert len(chain.head.entries) <= size
    assert len(chain.chunks) >= 2
    assert chain.filled >= (1 if chunk_max >= 2 * chunk_size else 0)


@pytest.mark.parametrize("count", [0, 1, 5, 6, 7, 11, 12, 14, 40, 41])
@pytest.mark.parametrize("chunk_max", [3, 6, 8])
def test_a_rebuilt_bucket_has_the_head_and_chunks_the_indexer_would_leave(count, chunk_max):
    rows = [(_key(n, "ok"), None) for n in range(count, 0, -1)]
    head, chunks = heads.chain_of(rows, size=5, chunk_size=3, chunk_max=chunk_max)
    indexed = Chain(5, 3, chunk_max)
    for key, viewer in reversed(rows):
        indexed.put(key, viewer)
    assert (head, chunks) == (indexed.head, indexed.chunks)
    chain = Chain(5, 3, chunk_max)
    chain.head, chain.chunks = head, chunks
    assert chain.entries() == rows
    assert len(head.entries) <= 5 and head.chunks == len(chunks)
    full = max(1, chunk_max // 3) * 3  # postings sealed 3 at a time, up to chunk_max
    assert all(len(chunk.entries) == full for chunk in chunks[:-1])
    chain.put(_key(count + 1, "ok"), None)  # and the indexer goes on from them
    assert chain.entries() == [(_key(count + 1, "ok"), None), *rows]


def test_a_head_built_from_a_query_of_its_bucket():
    rows = [(_key(n, "ok"), None) for n in range(9, 0, -1)]
    assert heads.from_newest(rows[:4], 4) == Head(rows[:4], None)  # the whole bucket
    assert heads.from_newest(rows[:5], 4) == Head(rows[:4], rows[3][0])  # more below
    assert heads.from_newest([], 4) == Head([], None)  # an empty bucket


def test_a_change_says_whether_it_changed_the_head():
    head = heads.from_newest([(_key(5, "ok"), None), (_key(4, "ok"), None)], 1)
    assert head.floor == _key(5, "ok")
    assert heads.put(head, _key(3, "ok"), None) is False  # below the floor
    assert heads.put(head, _key(5, "ok"), None) is False  # already there
    assert heads.put(head, _key(6, "ok"), None) is True
    assert heads.seal(head, None, size=2, chunk_size=1) is None  # not more than 2
    assert heads.put(head, _key(7, "ok"), None) is True
    first = heads.seal(head, None, size=2, chunk_size=1, chunk_max=2)
    assert first == Chunk([(_key(5, "ok"), None)], _key(5, "ok"))
    assert head == Head([(_key(7, "ok"), None), (_key(6, "ok"), None)], _key(6, "ok"), 1)
    assert heads.put(head, _key(8, "ok"), None) is True  # into the newest chunk, which has room
    assert heads.seal(head, first, size=2, chunk_size=1, chunk_max=2) is first
    assert first == Chunk([(_key(6, "ok"), None), (_key(5, "ok"), None)], _key(5, "ok"))
    assert head == Head([(_key(8, "ok"), None), (_key(7, "ok"), None)], _key(7, "ok"), 1)
    assert heads.put(head, _key(9, "ok"), None) is True  # it is full: a new chunk
    assert heads.seal(head, first, size=2, chunk_size=1, chunk_max=2) == Chunk(
        [(_key(7, "ok"), None)], _key(7, "ok")
    )
    assert head == Head([(_key(9, "ok"), None), (_key(8, "ok"), None)], _key(8, "ok"), 2)
    assert heads.put(head, _key(7, "ok"), None) is False  # below the floor: a chunk's
    assert heads.delete(head, _key(7, "ok")) is False  # the chunk's now
    assert heads.delete(head, _key(8, "ok")) is True
    assert head == Head([(_key(9, "ok"), None)], _key(8, "ok"), 2)  # the floor stays


def test_a_batch_retried_after_writing_the_newest_chunk_but_not_the_head_fills_it_once():
    rows = [(_key(n, "ok"), None) for n in range(5, 0, -1)]
    stored_head, [stored_chunk] = heads.chain_of(rows, size=3, chunk_size=2, chunk_max=4)
    assert (stored_head.entries, stored_chunk.entries) == (rows[:3], rows[3:])
    for _ in range(2):  # the first attempt's chunk is written, its head is not
        head = copy.deepcopy(stored_head)
        heads.put(head, _key(6, "ok"), None)
        assert heads.seal(head, stored_chunk, size=3, chunk_size=2, chunk_max=4) is stored_chunk
        assert stored_chunk.entries == rows[1:]
        assert head == Head([(_key(6, "ok"), None), rows[0]], rows[0][0], 1)
    # Full, they go to a new chunk, and what it kept of the head's is dropped.
    key = {n: (_key(n, "ok"), None) for n in range(1, 9)}
    top = Chunk([key[5], key[4], key[3], key[2], key[1]], None)  # 5: left by a failed batch
    head = Head([key[7], key[6], key[5]], key[5][0], 1)
    heads.put(head, key[8][0], None)
    sealed = heads.seal(head, top, size=3, chunk_size=2, chunk_max=4)
    assert sealed == Chunk([key[6], key[5]], key[5][0])
    assert top.entries == [key[4], key[3], key[2], key[1]]
    assert head == Head([key[8], key[7]], key[7][0], 2)


def test_the_chunk_of_a_posting_below_the_head_is_the_one_with_the_highest_floor_under_it():
    floors = [None, _key(10, "a"), _key(20, "a")]
    assert heads.holder_of(floors, _key(3, "a")) == 0
    assert heads.holder_of(floors, _key(10, "a")) == 1
    assert heads.holder_of(floors, _key(19, "z")) == 1
    assert heads.holder_of(floors, _key(25, "a")) == 2
    assert heads.holder_of(floors[1:], _key(3, "a")) is None  # below them: an older chunk


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
            stored = key if self.rows[key] is None else f"{key}#{self.rows[key]}"
            message_id = admitted(bucket, stored, viewer)
            if message_id is not None and (not ids or ids[-1] != message_id):
                ids.append(message_id)
        if not more:
            return Page(ids, None)
        return Page(ids, page[-1], stopped_at=page[-1].split("#", 1)[0])


@pytest.mark.parametrize("seed", range(40))
def test_a_cursor_started_from_a_head_yields_what_the_bucket_does(seed):
    """Walking a bucket down from random bounds, with and without its head and chunks,
    gives the same messages; with them, nothing is Queried, and each request for chunks
    asks for twice as many as the last."""
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
    chunk_size = rng.randint(1, size)
    chain = Chain(size, chunk_size, chunk_size * rng.choice((1, 2, 3)))
    for key in rng.sample(sorted(rows), len(rows)):  # in any order: old ones land in chunks
        chain.put(key, rows[key])
    chunks = {("r1", n): chunk for n, chunk in enumerate(chain.chunks)}
    pk = head_pk(bucket)
    chunk_reads = []

    def read_chunks(keys):
        chunk_reads.append(len(keys))
        return {key: _as_read(chunks[("r1", key[1])]) for key in keys if key[0] == pk}

    walks = []
    for seeded in (False, True):
        postings = Postings(rows)
        cursor = join.Cursor(bucket, postings.read, join.Budget(10_000), viewer=viewer, page_size=4)
        if seeded:
            cursor.seed(_as_read(chain.head) if seed % 2 else chain.head)
        bounds = sorted({f"01M{n:023d}" for n in random.Random(seed).sample(range(1, 420), 30)})
        walk = [_step(cursor, b, read_chunks) for b in reversed(bounds)]
        walks.append((walk, postings.reads))
    assert walks[0][0] == walks[1][0]
    assert walks[1][1] == 0  # the whole bucket was in its head and chunks
    doubling = [min(2**n, join.MAX_CHUNKS) for n in range(len(chunk_reads))]
    assert chunk_reads[:-1] == doubling[:-1]  # the last asks for what is left at most
    assert chunk_reads[-1:] <= doubling[-1:]


def _as_read(held):
    """A head or chunk as the search reads it from the table: its stored text, unparsed."""
    text = " ".join(key if viewer is None else f"{key}#{viewer}" for key, viewer in held.entries)
    if isinstance(held, Head):
        return Head(None, held.floor, held.chunks, text=text)
    return Chunk(None, held.floor, text=text)


def test_a_head_read_from_its_stored_text_holds_what_was_written():
    entries = [(_key(9, "deploy"), None), (_key(9, "dep"), "bob"), (_key(4, "ok"), None)]
    read = _as_read(Head(entries, _key(4, "ok"), 2))
    assert read == Head(entries, _key(4, "ok"), 2)
    assert (
        read.texts()
        == Head(entries, None).texts()
        == [
            f"{_key(4, 'ok')}",
            f"{_key(9, 'dep')}#bob",
            f"{_key(9, 'deploy')}",
        ]
    )
    assert _as_read(Chunk(entries, None)) != _as_read(Head(entries, None))


def _step(cursor: join.Cursor, bound: str, read_chunks) -> str | None:
    """The cursor's newest message up to `bound`, fed the chunks it asks for."""
    while True:
        try:
            return cursor.head(bound, inclusive=True)
        except join.Starved:
            cursor.feed(read_chunks(cursor.wanted))
