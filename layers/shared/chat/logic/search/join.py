"""The messages of one room in every bucket of a plan, newest first: a leapfrog join.

Each bucket is read backwards through a `Cursor`, a page (one Query) at a time. To find the
next message in all of them, take the newest message below the bound in the first bucket,
then ask each bucket in turn for its newest message at or below that one: when a bucket
answers with an older message, that becomes the candidate and the round goes on; when every
bucket has answered with the same message, it is in all of them. A bucket that has to skip
far ahead does not read what it skips: its next Query starts at the candidate (a seek).

A bucket whose head was read (heads.py) starts with the head's postings, then takes its
chunks, newest first, and Queries only below the oldest: a search often joins its rooms from
their heads alone. It keeps a head's or chunk's postings as stored (`_Run`), and skips to the
candidate by bisection, parsing only the postings it stops at: a common word joined with a
rare one goes past most of what it reads without looking at it. A cursor does not read its
chunks itself: it says which it wants (`Starved`), and the search reads those of all its
rooms at once (`feed`), one BatchGetItem per hundred, asking for twice as many each time.
When one bucket's head holds the whole bucket, the room is joined from the heads only: that
bucket leads, and where another bucket's head ends, its word is not read but left to the
check of each candidate's text (service.shows), so a candidate may then be no match.

Reads are counted against a `Budget`; a room whose join runs out of it stops where it is,
and says down to where its answer is complete (`RoomCandidates.complete_from`), so a page
of results never skips a message.
"""

from __future__ import annotations

from bisect import bisect_left
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from chat.dal.search_index import (
    Bucket,
    Chunk,
    ChunkKey,
    Head,
    Page,
    admitted,
    head_pk,
    room_mark_key,
    sort_bound,
)
from chat.logic.search.heads import FRESH

# `id + AFTER` sorts just above `id` and below every other id above it ("-" is the lowest
# character of a message id, and ours all have 26): the `before` of a page that starts at `id`.
AFTER = "-"
# Sorts above every message id: the `complete_from` of a room of which nothing is read yet.
UNREAD = "~"

Reader = Callable[..., Page]  # chat.dal.search_index.read
ChunkReader = Callable[[Sequence[ChunkKey]], Mapping[ChunkKey, Chunk]]  # search_index.chunks
# Postings a cursor's first read asks for: a filtered bucket more (its other terms are
# skipped; 200 postings are ~2 RRU), a bucket of one term what is wanted. Each further read
# of the cursor asks for twice as many, up to MAX_PAGE: a bucket read far (a common word
# joined with a rare one) costs a few reads, not one per page of what is wanted.
MIN_PAGE = 200
MIN_PAGE_UNFILTERED = 50
MAX_PAGE = 1000
MAX_CHUNKS = 16  # chunks a cursor asks for at once (it asks for 1, then twice as many)


class OutOfBudget(Exception):
    """The join has made as many reads as it may for this search."""


class Starved(OutOfBudget):
    """A cursor wants chunks (`Cursor.wanted`): the join goes on once they are fed."""


@dataclass
class Budget:
    reads: int  # reads (Queries, requests of chunks) this room's join may make
    made: int = 0

    def spend(self) -> None:
        if self.made >= self.reads:
            raise OutOfBudget
        self.made += 1


class Cursor:
    """One bucket read backwards, page by page, below bounds that only go down."""

    def __init__(
        self,
        bucket: Bucket,
        read: Reader,
        budget: Budget,
        *,
        viewer: str | None,
        page_size: int,
    ) -> None:
        self.bucket, self.read, self.budget = bucket, read, budget
        self.viewer, self.page_size = viewer, page_size
        self.runs: deque[_Run] = deque()  # postings of heads and chunks not taken yet
        self.buffer: deque[str] = deque()  # message ids Queries read, newest first
        self.resume: str | None = None
        self.stopped_at: str | None = None
        self.exhausted = False
        self.last: str | None = None  # the last id a Query put into the buffer (pages overlap)
        # Below what it has read, answer "perhaps" (the id asked about) instead of reading:
        # the join's candidates are then checked on the message's text instead.
        self.guess = False
        self.chunk = -1  # the next chunk to take (-1: none left, Query below `resume`)
        self.step = 1  # chunks asked for next
        self.wanted: list[ChunkKey] = []  # chunks asked for and not fed yet

    def seed(self, head: Head) -> None:
        """Start from the bucket's head: its postings are the first page read, its chunks
        the next ones."""
        self._take(head)
        self._reached(head.floor)
        self.chunk = head.chunks - 1 if head.floor is not None else -1

    def _take(self, held: Head | Chunk) -> None:
        texts = held.texts()
        if texts:
            self.runs.append(_Run(texts))

    def _reached(self, floor: str | None) -> None:
        """Everything at or above `floor` is taken (None: everything)."""
        self.resume = floor
        self.stopped_at = floor.split("#", 1)[0] if floor is not None else None
        self.exhausted = floor is None

    def ask(self) -> None:
        """Want its next chunks (`step` of them)."""
        pk = head_pk(self.bucket)
        last = max(-1, self.chunk - self.step)
        self.wanted = [(pk, number) for number in range(self.chunk, last, -1)]

    @property
    def reads_chunks(self) -> bool:
        """Whether it has chunks left to read (and reads them, rather than guess)."""
        return self.chunk >= 0 and not self.guess

    def feed(self, chunks: Mapping[ChunkKey, Chunk]) -> None:
        """Take the chunks it wanted, newest first; one that is not there (the bucket is
        being rebuilt) leaves the rest of the bucket to Queries."""
        for key in self.wanted:
            chunk = chunks.get(key)
            if chunk is None:
                self.chunk = -1
                break
            self._take(chunk)
            self._reached(chunk.floor)
            self.chunk = key[1] - 1 if chunk.floor is not None else -1
            if self.chunk < 0:
                break
        self.wanted = []
        self.step = min(MAX_CHUNKS, 2 * self.step)

    def head(self, below: str | None, *, inclusive: bool = False) -> str | None:
        """The newest message id of the bucket below `below` (or up to it, `inclusive`);
        None when there is none."""
        bound = sort_bound(below, inclusive)
        while True:
            while self.runs:
                found = self.runs[0].newest(bound, self.bucket, self.viewer)
                if found is not None:
                    return found
                self.runs.popleft()
            while self.buffer and not _within(self.buffer[0], below, inclusive):
                self.buffer.popleft()
            if self.buffer:
                return self.buffer[0]
            if self.exhausted:
                return None
            if self.guess and inclusive and below is not None:
                # Every message above the head's floor message is known; from it on, perhaps.
                return below if self.stopped_at is None else min(below, self.stopped_at)
            self.budget.spend()
            if self.chunk >= 0:
                self.ask()
                raise Starved
            page = self.read(
                self.bucket,
                below=below,
                inclusive=inclusive,
                resume=self.resume,
                viewer=self.viewer,
                limit=self.page_size,
            )
            for message_id in page.message_ids:
                if message_id != self.last:
                    self.buffer.append(message_id)
                    self.last = message_id
            self.resume, self.stopped_at = page.resume, page.stopped_at
            self.exhausted = page.resume is None
            self.page_size = min(MAX_PAGE, 2 * self.page_size)


class _Run:
    """The postings of a head or a chunk a cursor has not gone past yet, as stored, oldest
    first: it goes down them by bisection, and parses only the postings it stops at."""

    def __init__(self, texts: list[str]) -> None:
        self.texts = texts
        self.end = len(texts)  # the postings not gone past: texts[:end]

    def newest(self, bound: str | None, bucket: Bucket, viewer: str | None) -> str | None:
        """The message id of the newest posting below `bound` (`search_index.sort_bound`)
        that counts for the bucket; None when none is left. The postings above it are gone
        past, and it is not: the same bound finds it again."""
        if bound is not None:
            self.end = bisect_left(self.texts, bound, 0, self.end)
        while self.end:
            message_id = admitted(bucket, self.texts[self.end - 1], viewer)
            if message_id is not None:
                return message_id
            self.end -= 1
        return None


def _within(message_id: str, below: str | None, inclusive: bool) -> bool:
    if below is None:
        return True
    return message_id <= below if inclusive else message_id < below


@dataclass(frozen=True)
class RoomCandidates:
    room_id: str
    message_ids: list[str]  # newest first
    # Every match of this room at or above this id is in message_ids; None: every match
    # below the search's `before` is (the room was read to its oldest message).
    complete_from: str | None
    reads: int


class RoomJoin:
    """One room's join, resumable: each `advance` looks for more of the room's newest
    matches below `before` (up to `want`) with at most that many more reads, and
    `result` says what was found and down to where that is complete. A search across rooms
    advances every room a little at a time, and only the rooms whose answer may still hold
    one of the page's matches (chat.logic.search.service)."""

    def __init__(
        self,
        room_id: str,
        buckets: Sequence[Bucket],
        read: Reader,
        *,
        viewer: str | None,
        want: int,
        before: str | None,
        heads: Mapping[str, Head] | None = None,
    ) -> None:
        self.room_id, self.want, self.before = room_id, want, before
        self.budget = Budget(0)
        self.cursors = [
            Cursor(b, read, self.budget, viewer=viewer, page_size=_page_size(b, want))
            for b in buckets
        ]
        heads = heads or {}
        mark = heads.get(room_mark_key(room_id))
        fresh = mark is not None and mark.floor == FRESH
        for cursor in self.cursors:
            head = heads.get(head_pk(cursor.bucket))
            if head is None and fresh:
                head = Head([], None)  # a fresh room's bucket without a head is empty
            if head is not None:
                cursor.seed(head)
        # A bucket whose head holds all of it (a word rare in the room) leads the join, and
        # the others are not read at all: below their heads, their words are checked on the
        # text of the few messages it holds.
        if any(cursor.exhausted for cursor in self.cursors):
            self.cursors.sort(key=lambda cursor: not cursor.exhausted)
            for cursor in self.cursors:
                cursor.guess = not cursor.exhausted
        self.join = _Join(self.cursors)
        self.found: list[str] = []
        self.bound = before
        self.exhausted = False  # read to the room's oldest match

    def next_page(self, want: int, before: str | None) -> None:
        """Go on to a page of `want` matches below `before`, which is at or below where this
        page's answer is complete (service.merge), keeping what the cursors have read: the
        matches found below `before` stay found, and the join goes on from where it is."""
        self.want, self.before = want, before
        self.found = [match for match in self.found if before is None or match < before]
        self.budget.reads = self.budget.made = 0

    @property
    def finished(self) -> bool:
        return self.exhausted or len(self.found) >= self.want

    @property
    def reads(self) -> int:
        return self.budget.made

    @property
    def starving(self) -> bool:
        """Whether it waits for chunks (`feed`)."""
        return any(cursor.wanted for cursor in self.cursors)

    def advance(self, reads: int | None) -> None:
        """Go on joining, with at most `reads` more reads (0: from the heads only; None:
        those left), a Query or a request of chunks each; it stops where a cursor wants
        chunks (`starving`)."""
        if reads is not None:
            self.budget.reads = self.budget.made + reads
        try:
            while len(self.found) < self.want:
                match = self.join.next(self.bound)
                if match is None:
                    self.exhausted = True
                    return
                self.found.append(match)
                self.bound = match
        except OutOfBudget:
            return

    def complete_from(self) -> str | None:
        """Every match at or above this id is found; None: every match below `before` is."""
        if self.exhausted:
            return None
        if len(self.found) >= self.want:
            return self.found[-1]
        # Out of reads: no message between the bound and the join's position is a match.
        position = self.join.position or self.cursors[0].stopped_at
        if position is None and self.bound is None:
            return UNREAD  # nothing read yet (no head, no Query): nothing is known
        complete_from = position + AFTER if position is not None else self.bound
        if self.bound is not None and complete_from is not None:
            complete_from = min(complete_from, self.bound)  # never above the last match
        return complete_from

    def moved_on(self) -> bool:
        """Whether what it found reaches below the search's `before` (a page moves on)."""
        if self.finished:
            return True
        complete_from = self.complete_from()
        return complete_from is not None and (self.before is None or complete_from < self.before)

    def result(self) -> RoomCandidates:
        return RoomCandidates(self.room_id, list(self.found), self.complete_from(), self.reads)


def settle(room: RoomJoin, reads: int, read_chunks: ChunkReader) -> RoomCandidates:
    """A room's join run alone: up to its `want` messages below `before` that are in every
    bucket, with `reads` reads (more only where none of them got below `before`)."""
    room.advance(reads)
    while True:
        if room.starving:
            feed([room], read_chunks)
            room.advance(None)
        elif not room.moved_on():
            room.advance(len(room.cursors))
        else:
            return room.result()


def feed(rooms: Sequence[RoomJoin], read_chunks: ChunkReader) -> None:
    """Read the chunks the rooms' cursors want, all at once, and give them to them; with
    them, the next chunks of the rooms' other cursors that have some left (a read each): a
    join that reads one bucket far reads the others about as far, so a room's buckets are
    read in the same rounds rather than one after the other."""
    for room in rooms:
        for cursor in room.cursors:
            if cursor.reads_chunks and not cursor.wanted and room.budget.made < room.budget.reads:
                room.budget.spend()
                cursor.ask()
    hungry = [cursor for room in rooms for cursor in room.cursors if cursor.wanted]
    found = read_chunks([key for cursor in hungry for key in cursor.wanted])
    for cursor in hungry:
        cursor.feed(found)


def _page_size(bucket: Bucket, want: int) -> int:
    least = MIN_PAGE_UNFILTERED if bucket.match == "all" else MIN_PAGE
    return max(least, 2 * want)


class _Join:
    """Leapfrog over cursors; `position` is the candidate being looked at: no message
    between the last bound and it is in every bucket."""

    def __init__(self, cursors: Sequence[Cursor]) -> None:
        self.cursors = cursors
        self.position: str | None = None

    def next(self, below: str | None) -> str | None:
        """The newest id below `below` that every cursor holds."""
        self.position = None
        candidate = self.cursors[0].head(below)
        if candidate is None:
            return None
        self.position = candidate
        agreed, turn = 1, 1
        while agreed < len(self.cursors):
            head = self.cursors[turn % len(self.cursors)].head(candidate, inclusive=True)
            if head is None:
                return None
            if head == candidate:
                agreed += 1
            else:
                candidate, agreed = head, 1
                self.position = candidate
            turn += 1
        return candidate
