"""Search: `GET /search` across the caller's rooms or in one, and `search_room`, the same
search in one room as the bot's `room_search` tool calls it.

Who may see what is decided here, when the search runs, never by the index:

- the rooms searched are those the `by_user` index lists for the caller (one room: the
  caller's membership of it, read consistently, or a 404);
- each candidate the index yields is read back from the messages table (consistently) and
  kept only if the caller is a member of its room now (their membership of it, read
  consistently in the same BatchGetItem calls: the `by_user` index may lag a leave or a
  removal a moment, and a member who left or was removed finds nothing more from that
  room), it is still searchable (not deleted), visible to the viewer (a private message:
  only to its `visible_to`), and its current text holds every word of the query.
  A deleted or edited message therefore drops out at once, whatever the index says; the
  index adds a new or edited text within a second or two (the stream).

A search first reads the heads of the buckets it joins in every room, and the rooms' marks
(`read_heads`: BatchGetItem, a hundred at a time; in a fresh room, a bucket without a head is
empty), joins each room from them, and reads further only in the rooms whose heads do not
reach as far back as the page does: the chunks below their heads, those of all such rooms
in the same BatchGetItem calls, and by Query (in parallel, `POOL_SIZE` at a time) where a
bucket has no head or its chunks end above its oldest posting; then it merges the rooms'
newest messages. docs/search.md says what that costs.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit

from chat.aws import thread_pool
from chat.dal import messages as message_table
from chat.dal import search_index
from chat.dal.items import MessageItem
from chat.dal.rooms import member_room_ids, room_ids_of_user
from chat.dal.search_index import Bucket, Head, admitted, head_pk, room_mark_key
from chat.errors import NotFound, ValidationFailed
from chat.logic import message_view
from chat.logic.search.heads import FRESH
from chat.logic.search.join import RoomCandidates, RoomJoin, feed, settle
from chat.logic.search.plan import buckets
from chat.logic.search.postings import searchable
from chat.logic.search.terms import Query, parse_query, tokens
from chat.models import Message, SearchResults
from chat.observability import logger, metrics
from chat.principal import Principal

DEFAULT_LIMIT = 20
MAX_LIMIT = 50
POOL_SIZE = 8  # at most the DynamoDB client's connection pool (10)
READS_PER_ROOM = 20  # reads of the index (Queries, requests of chunks) one room's join may make
MARGIN = 5  # candidates beyond the page: a few may fail the check against the stored text
MAX_ROUNDS = 3  # pages of candidates read to fill one page of results
HEADS_PER_READ = 100  # heads per BatchGetItem
# Rooms known fresh (chat.logic.search.heads): a room's mark, once fresh, stays so; a
# container remembers that many (a few MB at most), then starts over.
_fresh_rooms: set[str] = set()
FRESH_ROOMS_KEPT = 100_000


def parse(text: str) -> Query:
    """The query of `q`; a 422 naming `q` when it holds no letter or digit."""
    query = parse_query(text)
    if query is None:
        message = "must contain at least one letter or digit"
        raise ValidationFailed(
            "q must contain at least one letter or digit",
            details=[{"field": "q", "message": message}],
        )
    return query


def search(
    principal: Principal,
    q: str,
    *,
    room_id: str | None = None,
    limit: int = DEFAULT_LIMIT,
    before: str | None = None,
) -> SearchResults:
    """`GET /search`: the caller's rooms (or `room_id`, 404 unless they are in it)."""
    query = parse(q)
    if room_id is not None:
        if not member_room_ids(principal.user_id, [room_id]):
            raise NotFound("Room not found")
        return _search([room_id], query, principal.username, limit, before)
    rooms = sorted(room_ids_of_user(principal.user_id))
    return _search(rooms, query, principal.username, limit, before, member=principal.user_id)


def search_room(
    room_id: str,
    query: str,
    viewer: str | None,
    limit: int = DEFAULT_LIMIT,
    before: str | None = None,
) -> SearchResults:
    """The search of one room, for the bot's `room_search` tool: no membership check (the
    caller knows who is asking); `viewer` is the username whose private messages count
    (None: public messages only). A query without a letter or digit is a ValidationFailed."""
    return _search([room_id], parse(query), viewer, limit, before)


def _search(
    rooms: Sequence[str],
    query: Query,
    viewer: str | None,
    limit: int,
    before: str | None,
    member: str | None = None,
) -> SearchResults:
    """The page of results in `rooms`; with `member` (a user id), only in those of them the
    user is a member of now, checked as candidates come from them."""
    limit = max(1, min(limit, MAX_LIMIT))
    results: list[Message] = []
    cursor = before
    reads = 0
    members = None if member is None else _Membership(member)
    try:
        if not rooms:
            return SearchResults(results=[], next_before=None)
        plans = {room_id: buckets(room_id, query) for room_id in rooms}
        heads, reads = read_heads(plans, viewer)
        joins = [
            RoomJoin(r, plan, search_index.read, viewer=viewer, want=0, before=before, heads=heads)
            for r, plan in plans.items()
        ]
        for _ in range(MAX_ROUNDS):
            page, cursor, made = _candidate_page(joins, limit - len(results), cursor)
            reads += made
            stored = (
                message_table.get_messages(page) if members is None else members.read_back(page)
            )
            for index, key in enumerate(page):
                item = stored.get(key)
                if item is None or not shows(item, query, viewer):
                    continue
                if members is not None and key[0] not in members.admitted:
                    continue
                results.append(message_view.as_message(item))
                if len(results) == limit:
                    more = index < len(page) - 1 or cursor is not None
                    return SearchResults(results=results, next_before=key[1] if more else None)
            if cursor is None:
                break
        return SearchResults(results=results, next_before=cursor)
    finally:
        metrics.add_metric(name="SearchQueries", unit=MetricUnit.Count, value=1)
        metrics.add_metric(name="SearchIndexReads", unit=MetricUnit.Count, value=reads)
        logger.debug("search", extra={"rooms": len(rooms), "index_reads": reads})


class _Membership:
    """The rooms a user is a member of now, read (consistently) as candidates come from
    them, with the candidates: a search reads the memberships of the rooms its pages hold,
    not of every room the user is in."""

    def __init__(self, user_id: str) -> None:
        self.user_id = user_id
        self.checked: set[str] = set()
        self.admitted: set[str] = set()

    def read_back(self, page: Sequence[tuple[str, str]]) -> dict[tuple[str, str], MessageItem]:
        """The page's candidates as stored now; the membership of their rooms not read yet
        with them."""
        unchecked = sorted({room_id for room_id, _ in page} - self.checked)
        stored, members = message_table.get_messages_of_member(list(page), self.user_id, unchecked)
        self.checked.update(unchecked)
        self.admitted.update(members)
        return stored


def read_heads(
    plans: Mapping[str, Sequence[Bucket]], viewer: str | None
) -> tuple[dict[str, Head], int]:
    """The heads the rooms' joins start from, with the rooms' marks, and the BatchGetItem
    calls made: every head and mark in one call when they fit; else first every room's
    first bucket's head (its rarest word's) and the marks not known yet, then the other
    buckets' heads of the rooms where the first is not known to be empty (where the rarest
    word is not, nothing is)."""
    if len(_fresh_rooms) > FRESH_ROOMS_KEPT:
        _fresh_rooms.clear()
    marks = [room_mark_key(room_id) for room_id in plans if room_id not in _fresh_rooms]
    first = [head_pk(plan[0]) for plan in plans.values() if plan]
    every = [head_pk(bucket) for plan in plans.values() for bucket in plan]
    if len(marks) + len(every) <= HEADS_PER_READ:
        first = every  # all in one call: one round trip rather than two
    heads = search_index.heads(marks + first)
    calls = -(-len(marks + first) // HEADS_PER_READ)
    _fresh_rooms.update(
        room_id
        for room_id in plans
        if (mark := heads.get(room_mark_key(room_id))) is not None and mark.floor == FRESH
    )
    heads.update({room_mark_key(room_id): Head([], FRESH) for room_id in _fresh_rooms & set(plans)})
    rest = [
        head_pk(bucket)
        for room_id, plan in plans.items()
        if plan and not _known_empty(room_id, plan[0], heads, viewer)
        for bucket in plan[1:]
        if head_pk(bucket) not in first
    ]
    if rest:
        heads.update(search_index.heads(rest))
        calls += -(-len(rest) // HEADS_PER_READ)
    return heads, calls


def _known_empty(
    room_id: str, bucket: Bucket, heads: Mapping[str, Head], viewer: str | None
) -> bool:
    """Whether the bucket's head says it holds nothing a read of it would keep."""
    head = heads.get(head_pk(bucket))
    if head is None and room_id in _fresh_rooms:
        return True  # a fresh room's bucket without a head is empty
    return (
        head is not None
        and head.floor is None
        and not any(admitted(bucket, text, viewer) for text in head.texts())
    )


def shows(item: Mapping[str, Any], query: Query, viewer: str | None) -> bool:
    """Whether a stored message is a result for this viewer, as it is now."""
    visible_to = item.get("visible_to")
    if visible_to and visible_to != viewer:
        return False
    return searchable(item) and query.matches(frozenset(tokens(str(item["content"]))))


def _candidate_page(
    joins: Sequence[RoomJoin], limit: int, before: str | None
) -> tuple[list[tuple[str, str]], str | None, int]:
    """The newest candidates below `before` across the rooms, (room_id, message_id) newest
    first, where the next page starts, and the index reads made. The rooms' joins go on
    from the last page of candidates of the same search (if any): what they read is not
    read again."""
    want = limit + MARGIN
    for join in joins:
        join.next_page(want, before)
    if len(joins) == 1:
        found = [settle(joins[0], READS_PER_ROOM, search_index.chunks)]
    else:
        found = _across_rooms(joins, want)
    page, next_before = merge(found, want)
    return page, next_before, sum(r.reads for r in found)


def _across_rooms(joins: Sequence[RoomJoin], want: int) -> list[RoomCandidates]:
    """Every room's candidates, read in step: the first round joins every room from its
    buckets' heads alone; each further round advances (in parallel) only the rooms that
    may still hold one of the `want` newest matches, those whose answer is complete down to
    no lower than the `want`-th newest candidate found so far in all rooms, after reading
    the chunks their cursors want, for all of them at once. So a search reads each room
    about as far back in time as the page reaches, not a page of each room's own, and a
    room whose heads reach that far is not read at all."""
    for join in joins:
        join.advance(0)
    pool = thread_pool("search", POOL_SIZE)
    while True:
        newest = sorted((m for join in joins for m in join.found), reverse=True)
        kth = newest[want - 1] if len(newest) >= want else None
        behind = [join for join in joins if _behind(join, kth)]
        if not behind:
            return [join.result() for join in joins]
        hungry = [join for join in behind if join.starving]
        if hungry:
            feed(hungry, search_index.chunks)
        list(pool.map(_advance, behind, [join in hungry for join in behind]))


def _advance(join: RoomJoin, fed: bool) -> None:
    """A room joined on: with the reads it has left when it was just fed its chunks, with
    one more per bucket otherwise."""
    join.advance(None if fed else len(join.cursors))


def _behind(join: RoomJoin, kth: str | None) -> bool:
    """Whether a room must be read further: its answer does not yet reach below the
    search's `before` (a page must move on), or it may still hold a match newer than the
    `kth` newest found so far, and it has reads left."""
    if join.finished:
        return False
    if not join.moved_on():
        return True
    complete_from = join.complete_from()
    below_kth = kth is not None and complete_from is not None and complete_from <= kth
    return not below_kth and join.reads < READS_PER_ROOM


def merge(rooms: Sequence[RoomCandidates], want: int) -> tuple[list[tuple[str, str]], str | None]:
    """The newest `want` candidates of all rooms, and the `before` of the next page.

    A room that stopped early (it had `want` candidates, or its reads ran out) knows its
    matches down to its `complete_from` only; candidates older than the highest of those
    wait for the next page, so no room's older match is ever skipped."""
    floors = [r.complete_from for r in rooms if r.complete_from is not None]
    floor = max(floors) if floors else None
    pool = sorted(
        (
            (message_id, r.room_id)
            for r in rooms
            for message_id in r.message_ids
            if floor is None or message_id >= floor
        ),
        reverse=True,
    )
    page = [(room_id, message_id) for message_id, room_id in pool[:want]]
    if len(pool) > want or (floor is not None and len(page) == want):
        return page, page[-1][1]
    return page, floor
