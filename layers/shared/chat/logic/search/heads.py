"""The heads of the index's buckets: each bucket's newest postings in one item, kept by the
indexer, so that a search reads many rooms' buckets with one BatchGetItem instead of a
Query each (chat.dal.search_index.Head says what a head holds).

A head holds at most `HEAD_SIZE` postings: every posting of its bucket at or above its
floor. A posting put above the floor joins it (the oldest beyond `HEAD_SIZE` leave, and the
floor rises to the oldest kept); a posting put below the floor is not the head's; a deleted
posting leaves it. A bucket without a head item is unknown, not empty: the indexer builds
its head from a Query of the bucket the first time it changes it.

The indexer is the only writer of a room's heads, and changes them one batch of stream
records at a time: the messages table's key is the room, so a room's records are on one
shard, read by one invocation at a time, in order (tools/reindex_search.py pauses the
indexer while it rewrites a room). Heads are read once per batch, changed in memory record
by record, and written once, after the batch's postings (`HeadBatch`).
"""

from __future__ import annotations

from collections.abc import Sequence

from chat.dal import search_index
from chat.dal.search_index import Head, Posting, bucket_key

HEAD_SIZE = 32  # postings: 32 sort keys of ~35 bytes are about a kilobyte (1 write unit)


def sort_key(posting: Posting) -> str:
    return f"{posting.message_id}#{posting.term}"


def from_newest(rows: Sequence[tuple[str, str | None]], size: int = HEAD_SIZE) -> Head:
    """The head of a bucket whose newest postings (newest first, up to `size + 1` of them,
    as a Query reads them) are `rows`."""
    kept = list(rows[:size])
    floor = kept[-1][0] if len(rows) > size else None
    return Head(kept, floor)


def put(head: Head, key: str, viewer: str | None, size: int = HEAD_SIZE) -> bool:
    """A posting put into the head's bucket; whether the head changed."""
    if head.floor is not None and key < head.floor:
        return False
    if (key, viewer) in head.entries:
        return False
    entries = sorted([e for e in head.entries if e[0] != key] + [(key, viewer)], reverse=True)
    if len(entries) > size:
        entries = entries[:size]
        head.floor = entries[-1][0]
    head.entries = entries
    return True


def delete(head: Head, key: str) -> bool:
    """A posting deleted from the head's bucket; whether the head changed."""
    entries = [entry for entry in head.entries if entry[0] != key]
    changed = len(entries) != len(head.entries)
    head.entries = entries
    return changed


class HeadBatch:
    """The heads one batch of stream records changes: read when first needed (consistently;
    a bucket without a head is built from a Query of its postings, which must be written
    first), changed in memory, written by `flush`."""

    def __init__(self, size: int | None = None) -> None:
        self.size = HEAD_SIZE if size is None else size
        self.heads: dict[str, Head | None] = {}
        self.changed: set[str] = set()
        self.built = 0  # heads built from a Query

    def apply(self, puts: Sequence[Posting], deletes: Sequence[Posting]) -> None:
        """The postings a record wrote (already in the index), applied to their heads."""
        keyed = [(bucket_key(p.room_id, p.level, p.term), p) for p in [*puts, *deletes]]
        missing = [pk for pk, _ in keyed if pk not in self.heads]
        if missing:
            self.heads.update(dict.fromkeys(missing))
            self.heads.update(search_index.heads(missing, consistent=True))
        put_keys = {pk for pk, _ in keyed[: len(puts)]}
        for pk in put_keys:
            if self.heads[pk] is None:  # unknown: built from the bucket as it is now
                self.heads[pk] = from_newest(search_index.newest(pk, self.size + 1), self.size)
                self.built += 1
                self.changed.add(pk)
        for pk, posting in keyed[: len(puts)]:
            head = self.heads[pk]
            if head is not None and put(head, sort_key(posting), posting.visible_to, self.size):
                self.changed.add(pk)
        for pk, posting in keyed[len(puts) :]:
            head = self.heads[pk]
            if head is not None and delete(head, sort_key(posting)):
                self.changed.add(pk)

    def flush(self) -> int:
        """Write the changed heads; returns the BatchWriteItem calls made."""
        changed = {pk: self.heads[pk] for pk in sorted(self.changed)}
        self.changed.clear()
        return search_index.write_heads(changed) if changed else 0
