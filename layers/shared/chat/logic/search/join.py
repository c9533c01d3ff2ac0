"""The messages of one room in every bucket of a plan, newest first: a leapfrog join.

Each bucket is read backwards through a `Cursor`, a page (one Query) at a time. To find the
next message in all of them, take the newest message below the bound in the first bucket,
then ask each bucket in turn for its newest message at or below that one: when a bucket
answers with an older message, that becomes the candidate and the round goes on; when every
bucket has answered with the same message, it is in all of them. A bucket that has to skip
far ahead does not read what it skips: its next Query starts at the candidate (a seek).

Reads are counted against a `Budget`; a room whose join runs out of it stops where it is,
and says down to where its answer is complete (`RoomCandidates.complete_from`), so a page
of results never skips a message.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from chat.dal.search_index import Bucket, Page

# `id + AFTER` sorts just above `id` and below every other id above it ("-" is the lowest
# character of a message id, and ours all have 26): the `before` of a page that starts at `id`.
AFTER = "-"

Reader = Callable[..., Page]  # chat.dal.search_index.read
# Postings a cursor's first read asks for: a filtered bucket more (its other terms are
# skipped; 200 postings are ~2 RRU), a bucket of one term what is wanted. Each further read
# of the cursor asks for twice as many, up to MAX_PAGE: a bucket read far (a common word
# joined with a rare one) costs a few reads, not one per page of what is wanted.
MIN_PAGE = 200
MIN_PAGE_UNFILTERED = 50
MAX_PAGE = 1000


class OutOfBudget(Exception):
    """The join has made as many reads as it may for this search."""


@dataclass
class Budget:
    reads: int  # Queries this room's join may make
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
        self.buffer: deque[str] = deque()
        self.resume: str | None = None
        self.stopped_at: str | None = None
        self.exhausted = False
        self.last: str | None = None  # the last id taken into the buffer (pages overlap)

    def head(self, below: str | None, *, inclusive: bool = False) -> str | None:
        """The newest message id of the bucket below `below` (or up to it, `inclusive`);
        None when there is none."""
        while True:
            while self.buffer and not _within(self.buffer[0], below, inclusive):
                self.buffer.popleft()
            if self.buffer:
                return self.buffer[0]
            if self.exhausted:
                return None
            self.budget.spend()
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


def candidates(
    room_id: str,
    buckets: Sequence[Bucket],
    read: Reader,
    *,
    viewer: str | None,
    want: int,
    before: str | None,
    reads: int,
) -> RoomCandidates:
    """Up to `want` messages of the room below `before` that are in every bucket."""
    budget = Budget(max(1, reads))
    cursors = [
        Cursor(b, read, budget, viewer=viewer, page_size=_page_size(b, want)) for b in buckets
    ]
    join = _Join(cursors)
    found: list[str] = []
    bound = before
    while True:
        try:
            while len(found) < want:
                match = join.next(bound)
                if match is None:
                    return RoomCandidates(room_id, found, None, budget.made)
                found.append(match)
                bound = match
            return RoomCandidates(room_id, found, found[-1], budget.made)
        except OutOfBudget:
            # No message between the bound and the join's position is a match.
            position = join.position or cursors[0].stopped_at
            complete_from = position + AFTER if position is not None else bound
            if bound is not None and complete_from is not None:
                complete_from = min(complete_from, bound)  # never above the last match
            if complete_from is not None and (before is None or complete_from < before):
                return RoomCandidates(room_id, found, complete_from, budget.made)
            # Not a step further than the caller's `before` yet: a page must move on.
            budget.reads += len(cursors)


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
