"""The heads of the index's buckets: each bucket's newest postings in one item, and the
older ones in chunks of them, kept by the indexer, so that a search reads many rooms'
buckets with a few BatchGetItem calls instead of a Query each (chat.dal.search_index.Head
and Chunk say what they hold).

A head holds every posting of its bucket at or above its floor. A posting put at or above
the floor joins it; when that makes it hold more than `HEAD_SIZE`, its oldest `CHUNK_SIZE`
leave it for its newest chunk, as long as that then holds at most `CHUNK_MAX`, and else for
a new chunk, whose floor is the head's; the head's floor rises to the oldest posting it
keeps. A posting put or deleted below the floor is its chunk's: the one
whose floor is the highest at or below it (none: below the oldest chunk, where the postings
are read by Query). A deleted posting leaves its head or chunk.

A bucket without a head item is empty in a *fresh* room: one whose every posting went
through its heads, since the first record the indexer saw of it created its oldest message
of a searchable type (the room's mark says so, written then; tools/reindex_search.py marks
the rooms it rebuilds fresh too). In any other room (*legacy*: it held postings before the
indexer kept heads) a bucket without a head is unknown, and the indexer builds its head from
a Query of the bucket the first time it changes it; the postings below that first floor are
read by Query.

The indexer is the only writer of a room's heads and chunks, and changes them one batch of
stream records at a time: the messages table's key is the room, so a room's records are on
one shard, read by one invocation at a time, in order (tools/reindex_search.py pauses the
indexer while it rewrites a room). Heads and chunks are read once per batch, changed in
memory record by record, and written once, after the batch's postings, chunks before heads
(`HeadBatch`).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

from chat.dal import messages, search_index
from chat.dal.search_index import (
    Chunk,
    ChunkKey,
    Head,
    Posting,
    bucket_key,
    room_mark_key,
    word_key,
)
from chat.logic.search.postings import LEVELS, SEARCHABLE_TYPES

# A head of 17 to 48 postings is about 0.6 to 1.7 KB (1 or 2 write units). Its oldest 32
# leave it at once, and fill its newest chunk up to 96 postings, about 3.4 KB: writing it
# 3 times (2 + 3 + 4 write units, and 1 for its one locator) costs about what 3 chunks of 32
# would (3 x 2, and 3 locators), and a search reads a common word's older postings 96 per
# item (half a read unit, as for 32), 100 items per BatchGetItem, across its rooms at once.
HEAD_SIZE = 48
CHUNK_SIZE = 32
CHUNK_MAX = 96
BUILT_SIZE = 32  # postings of a head built from a Query of its bucket
FRESH, LEGACY = "fresh", "legacy"  # a room's mark (its `floor`)


def sort_key(posting: Posting) -> str:
    return f"{posting.message_id}#{posting.term}"


def heads_of(posting: Posting) -> list[tuple[str, str, str | None]]:
    """The heads a posting belongs to, each as (its key, the bucket it is read from, the
    term it is limited to): its bucket's, and at the last level its term's own."""
    pk = bucket_key(posting.room_id, posting.level, posting.term)
    found: list[tuple[str, str, str | None]] = [(pk, pk, None)]
    if posting.level == LEVELS[-1] and len(posting.term) >= LEVELS[-1]:
        found.append((word_key(posting.room_id, posting.term), pk, posting.term))
    return found


def from_newest(rows: Sequence[tuple[str, str | None]], size: int = BUILT_SIZE) -> Head:
    """The head of a bucket whose newest postings (newest first, up to `size + 1` of them,
    as a Query reads them) are `rows`."""
    kept = list(rows[:size])
    floor = kept[-1][0] if len(rows) > size else None
    return Head(kept, floor)


def chain_of(
    rows: Sequence[tuple[str, str | None]],
    size: int = HEAD_SIZE,
    chunk_size: int = CHUNK_SIZE,
    chunk_max: int = CHUNK_MAX,
) -> tuple[Head, list[Chunk]]:
    """The head and chunks (oldest first) of a bucket whose every posting (newest first) is
    in `rows`, as the indexer would have left them: the oldest of them sealed `chunk_size`
    at a time, into chunks of as many of those as fit in `chunk_max` from the oldest up,
    the newest (at most `size`) in the head."""
    sealed = max(0, -(-(len(rows) - size) // chunk_size)) * chunk_size
    per = max(1, chunk_max // chunk_size) * chunk_size
    chunks: list[Chunk] = []
    for end in range(len(rows), len(rows) - sealed, -per):
        entries = list(rows[max(len(rows) - sealed, end - per) : end])
        chunks.append(Chunk(entries, entries[-1][0] if chunks else None))
    floor = rows[len(rows) - sealed - 1][0] if sealed else None
    return Head(list(rows[: len(rows) - sealed]), floor, len(chunks)), chunks


def put(holder: Head | Chunk, key: str, viewer: str | None) -> bool:
    """A posting put into a head (or a chunk) at or above its floor; whether it changed."""
    if holder.floor is not None and key < holder.floor:
        return False
    if (key, viewer) in holder.entries:
        return False
    entries = [e for e in holder.entries if e[0] != key] + [(key, viewer)]
    holder.entries = sorted(entries, reverse=True)
    return True


def delete(holder: Head | Chunk, key: str) -> bool:
    """A posting deleted from a head (or a chunk); whether it changed."""
    entries = [entry for entry in holder.entries if entry[0] != key]
    changed = len(entries) != len(holder.entries)
    holder.entries = entries
    return changed


def seal(
    head: Head,
    top: Chunk | None = None,
    size: int = HEAD_SIZE,
    chunk_size: int = CHUNK_SIZE,
    chunk_max: int = CHUNK_MAX,
) -> Chunk | None:
    """When the head holds more than `size` postings, its oldest `chunk_size` leave it:
    into `top`, its newest chunk (None: it has none), when that then holds at most
    `chunk_max`, else into its next chunk (the head then counts it, and its floor is the
    head's); the head then starts at the oldest posting it keeps. Returns the chunk they
    went into (`top` itself, or the new one), None when the head was not too full. Moving
    the same postings into `top` again leaves it as once; `top` keeps nothing at or above
    the head's floor."""
    if len(head.entries) <= size:
        return None
    count = min(chunk_size, size)  # the head keeps one at least
    moved = head.entries[-count:]
    # What the newest chunk holds at or above the head's floor is the head's (left there by
    # a batch that wrote the chunk, then failed before the head): the head's copy is moved.
    kept = (
        [] if top is None else [e for e in top.entries if head.floor is None or e[0] < head.floor]
    )
    if top is not None and len(kept) + count <= chunk_max:
        top.entries = moved + kept
        sealed = top
    else:
        if top is not None:
            top.entries = kept
        sealed = Chunk(moved, head.floor)
        head.chunks += 1
    head.entries = head.entries[:-count]
    head.floor = head.entries[-1][0]
    return sealed


def holder_of(floors: Sequence[str | None], key: str) -> int | None:
    """Which of a head's last chunks, with these floors (oldest first, the last chunk's
    last), holds `key` below the head's floor: its index in `floors`; None: an older one."""
    for index in range(len(floors) - 1, -1, -1):
        floor = floors[index]
        if floor is None or key >= floor:
            return index
    return None


class HeadBatch:
    """The heads and chunks one batch of stream records changes: read when first needed
    (consistently; a bucket without a head is built from a Query of its postings, which
    must be written first), changed in memory, written by `flush`."""

    def __init__(
        self, size: int | None = None, chunk_size: int | None = None, chunk_max: int | None = None
    ) -> None:
        self.size = HEAD_SIZE if size is None else size
        self.chunk_size = CHUNK_SIZE if chunk_size is None else chunk_size
        self.chunk_max = CHUNK_MAX if chunk_max is None else chunk_max
        self.built = min(BUILT_SIZE, self.size)
        self.heads: dict[str, Head | None] = {}
        self.changed: set[str] = set()
        self.chunks: dict[ChunkKey, Chunk] = {}
        self.changed_chunks: set[ChunkKey] = set()
        self.new_chunks: set[ChunkKey] = set()

    def apply(self, puts: Sequence[Posting], deletes: Sequence[Posting], *, created: bool) -> None:
        """The postings a record wrote (already in the index), applied to their heads;
        `created`: the record is the message's creation."""
        added = [(target, p) for p in puts for target in heads_of(p)]
        removed = [(target, p) for p in deletes for target in heads_of(p)]
        rooms = {room_mark_key(p.room_id) for p in [*puts, *deletes]}
        wanted = [*rooms, *(pk for (pk, _, _), _ in added + removed)]
        missing = list(dict.fromkeys(pk for pk in wanted if pk not in self.heads))
        if missing:
            self.heads.update(dict.fromkeys(missing))
            self.heads.update(search_index.heads(missing, consistent=True))
        if puts:
            fresh = self._fresh(puts[0], created)
        for (pk, bucket_pk, term), _ in added:
            if self.heads[pk] is None:  # empty in a fresh room, else built from the bucket
                rows = [] if fresh else search_index.newest(bucket_pk, self.built + 1, term)
                self.heads[pk] = from_newest(rows, self.built)
                self.changed.add(pk)
        self._read_tops(Counter(pk for (pk, _, _), _ in added))
        for (pk, _, _), posting in added:
            head = self.heads[pk]
            if head is not None:
                self._put(pk, head, sort_key(posting), posting.visible_to)
        for (pk, _, _), posting in removed:
            head = self.heads[pk]
            if head is not None:
                self._delete(pk, head, sort_key(posting))

    def _put(self, pk: str, head: Head, key: str, viewer: str | None) -> None:
        if head.floor is None or key >= head.floor:
            if put(head, key, viewer):
                self.changed.add(pk)
            if len(head.entries) > self.size:
                top = self._top(pk, head)
                held = None if top is None else len(top.entries)
                sealed = seal(head, top, self.size, self.chunk_size, self.chunk_max)
                if top is not None and sealed is not top and len(top.entries) != held:
                    self.changed_chunks.add((pk, head.chunks - 2))  # it lost the head's
                if sealed is not None:
                    into = (pk, head.chunks - 1)
                    self.chunks[into] = sealed
                    self.changed_chunks.add(into)
                    if sealed is not top:
                        self.new_chunks.add(into)
            return
        chunk_key = self._chunk_of(pk, head, key)
        if chunk_key is not None and put(self.chunks[chunk_key], key, viewer):
            self.changed_chunks.add(chunk_key)

    def _delete(self, pk: str, head: Head, key: str) -> None:
        if head.floor is None or key >= head.floor:
            if delete(head, key):
                self.changed.add(pk)
            return
        chunk_key = self._chunk_of(pk, head, key)
        if chunk_key is not None and delete(self.chunks[chunk_key], key):
            self.changed_chunks.add(chunk_key)

    def _read_tops(self, puts: Counter[str]) -> None:
        """Read, in one call, the newest chunks of the heads these puts (count by head) may
        make seal."""
        wanted = [
            (pk, head.chunks - 1)
            for pk, count in puts.items()
            if (head := self.heads[pk]) is not None
            and head.chunks
            and len(head.entries) + count > self.size
        ]
        self._read(wanted)

    def _top(self, pk: str, head: Head) -> Chunk | None:
        """The head's newest chunk (read if not yet); None when it has none, or it is not
        there (its bucket is being rebuilt: a new chunk is sealed then)."""
        if not head.chunks:
            return None
        key = (pk, head.chunks - 1)
        self._read([key])
        return self.chunks.get(key)

    def _chunk_of(self, pk: str, head: Head, key: str) -> ChunkKey | None:
        """The chunk (read into `chunks`) holding `key`, below the head's floor; None when
        the key is below the oldest chunk (or the head has none)."""
        if not head.chunks:
            return None
        # Chunks sealed in this batch are not written yet: their floors are known here.
        sealed = sorted(j for (p, j) in self.new_chunks if p == pk)
        floors = [self.chunks[(pk, j)].floor for j in sealed]
        index = holder_of(floors, key)
        if index is not None:
            return (pk, sealed[index])
        number = search_index.chunk_of(pk, key)
        if number is None or number >= head.chunks:
            return None
        chunk_key = (pk, number)
        self._read([chunk_key])
        return chunk_key if chunk_key in self.chunks else None

    def _read(self, keys: Sequence[ChunkKey]) -> None:
        """Read those of these chunks not read yet into `chunks` (consistently, in one
        call); one that is not there stays out."""
        unread = [key for key in keys if key not in self.chunks]
        if unread:
            self.chunks.update(search_index.chunks(unread, consistent=True))

    def _fresh(self, posting: Posting, created: bool) -> bool:
        """Whether the posting's room is fresh, marking it the first time it is seen: fresh
        if this record creates the room's oldest message of a type that can have postings
        (the records of newer ones come after it, through the heads)."""
        key = room_mark_key(posting.room_id)
        mark = self.heads[key]
        if mark is None:
            older = created and messages.any_older_of_types(
                posting.room_id, posting.message_id, sorted(SEARCHABLE_TYPES)
            )
            mark = self.heads[key] = Head([], FRESH if created and not older else LEGACY)
            self.changed.add(key)
        return mark.floor == FRESH

    def flush(self) -> int:
        """Write the changed chunks, then the changed heads; returns the BatchWriteItem
        calls made."""
        changed = {pk: head for pk in sorted(self.changed) if (head := self.heads[pk]) is not None}
        chunks = {key: self.chunks[key] for key in sorted(self.changed_chunks)}
        new = sorted(self.new_chunks)
        self.changed.clear()
        self.changed_chunks.clear()
        self.new_chunks.clear()
        return search_index.write_heads(changed, chunks, new) if changed or chunks else 0
