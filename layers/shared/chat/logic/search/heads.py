"""The heads of the index's buckets: each bucket's newest postings in one item, kept by the
indexer, so that a search reads many rooms' buckets with one BatchGetItem instead of a
Query each (chat.dal.search_index.Head says what a head holds).

A head holds at most `HEAD_SIZE` postings: every posting of its bucket at or above its
floor. A posting put above the floor joins it (the oldest beyond `HEAD_SIZE` leave, and the
floor rises to the oldest kept); a posting put below the floor is not the head's; a deleted
posting leaves it.

A bucket without a head item is empty in a *fresh* room: one whose every posting went
through its heads, since the first record the indexer saw of it created its oldest message
of a searchable type (the room's mark says so, written then; tools/reindex_search.py marks
the rooms it rebuilds fresh too). In any other room (*legacy*: it held postings before the
indexer kept heads) a bucket without a head is unknown, and the indexer builds its head from
a Query of the bucket the first time it changes it.

The indexer is the only writer of a room's heads, and changes them one batch of stream
records at a time: the messages table's key is the room, so a room's records are on one
shard, read by one invocation at a time, in order (tools/reindex_search.py pauses the
indexer while it rewrites a room). Heads are read once per batch, changed in memory record
by record, and written once, after the batch's postings (`HeadBatch`).
"""

from __future__ import annotations

from collections.abc import Sequence

from chat.dal import messages, search_index
from chat.dal.search_index import Head, Posting, bucket_key, room_mark_key, word_key
from chat.logic.search.postings import LEVELS, SEARCHABLE_TYPES

HEAD_SIZE = 32  # postings: 32 sort keys of ~35 bytes are about a kilobyte (1 write unit)
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
                rows = [] if fresh else search_index.newest(bucket_pk, self.size + 1, term)
                self.heads[pk] = from_newest(rows, self.size)
                self.changed.add(pk)
        for (pk, _, _), posting in added:
            head = self.heads[pk]
            if head is not None and put(head, sort_key(posting), posting.visible_to, self.size):
                self.changed.add(pk)
        for (pk, _, _), posting in removed:
            head = self.heads[pk]
            if head is not None and delete(head, sort_key(posting)):
                self.changed.add(pk)

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
        """Write the changed heads; returns the BatchWriteItem calls made."""
        changed = {pk: head for pk in sorted(self.changed) if (head := self.heads[pk]) is not None}
        self.changed.clear()
        return search_index.write_heads(changed) if changed else 0
