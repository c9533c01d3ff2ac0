"""The search index's rules without a database: what a message posts and what a change
writes (postings), which buckets a query reads (plan), the leapfrog join over them (join)
and the merge of rooms into pages (service.merge), against an in-memory index that reads
as DynamoDB does (Limit before the filter, a LastEvaluatedKey to read on)."""

from __future__ import annotations

import contextlib
import copy
import random
from collections import Counter, defaultdict
from collections.abc import Iterator
from typing import Any
from unittest import mock

import pytest

from chat.dal import search_index
from chat.dal.search_index import Bucket, Chunk, Head, Page, Posting
from chat.logic.search import heads, indexing, join, plan
from chat.logic.search.postings import changes, levels_of, postings_of, searchable
from chat.logic.search.service import merge
from chat.logic.search.terms import parse_query, tokens


def message(message_id: str, content: str, **fields: Any) -> dict[str, Any]:
    return {
        "room_id": fields.pop("room_id", "r1"),
        "message_id": message_id,
        "username": "alice",
        "content": content,
        "message_type": "text",
        "is_bot": False,
        "created_at": "2026-01-01T00:00:00.000Z",
        "status": "complete",
        **fields,
    }


class _FlushFailed(Exception):
    """The heads' writes failed after the chunks' (throttled)."""


class FakeIndex:
    """Postings in memory, read as `chat.dal.search_index.read` reads DynamoDB, and, when
    `head_size` is given, their buckets' heads and chunks, kept by the indexer's own
    `HeadBatch` (heads of `head_size` postings sealing `chunk_size` at a time into chunks of
    up to `chunk_max`, flushed after a random number of records; `forget`: the share of
    heads lost with their chunks, as in a room that had postings before heads were kept;
    `fail`: the share of flushes whose chunks are written and heads are not, the batch then
    applied again, as the indexer retries it)."""

    def __init__(
        self,
        head_size: int | None = None,
        forget: float = 0.0,
        seed: int = 0,
        chunk_size: int | None = None,
        chunk_max: int | None = None,
        fail: float = 0.0,
    ) -> None:
        self.buckets: dict[tuple[str, int, str], dict[tuple[str, str], Posting]] = defaultdict(dict)
        self.reads = 0
        self.chunk_reads = 0
        self.head_size, self.forget, self.rng = head_size, forget, random.Random(seed)
        self.chunk_size = chunk_size or max(1, 2 * (head_size or 3) // 3)
        self.chunk_max = chunk_max or self.chunk_size
        self.head_items: dict[str, Head] = {}
        self.chunk_items: dict[tuple[str, int], Chunk] = {}
        self.locators: dict[str, dict[str, int]] = defaultdict(dict)
        self.batch: heads.HeadBatch | None = None
        self.records: list[tuple[dict[str, Any] | None, dict[str, Any] | None]] = []
        self.fail = fail
        self.flush_chance = self.rng.choice((0.1, 0.5, 1.0))  # records per batch: 10, 2, 1

    def apply(self, old: dict[str, Any] | None, new: dict[str, Any] | None) -> None:
        """A change of a message, indexed as the indexer does (chat.logic.search.indexing)."""
        if self.head_size is None:
            puts, deletes = changes(old, new)
            self.write(puts, deletes)
            return
        with self._as_the_index():
            if self.batch is None:
                self.batch = heads.HeadBatch(self.head_size, self.chunk_size, self.chunk_max)
            indexing.apply_change(old, new, self.batch)
            self.records.append((old, new))
            if self.rng.random() < self.flush_chance:
                self.flush()

    def flush(self) -> None:
        while self.batch is not None:
            try:
                with self._as_the_index():
                    self.batch.flush()
            except _FlushFailed:  # the batch's records again, from what was written
                with self._as_the_index():
                    self.batch = heads.HeadBatch(self.head_size, self.chunk_size, self.chunk_max)
                    for old, new in self.records:
                        indexing.apply_change(old, new, self.batch)
            else:
                self.batch, self.records = None, []
        for pk in list(self.head_items):
            if not pk.endswith("#r") and self.rng.random() < self.forget:
                del self.head_items[pk]
                self.locators.pop(pk, None)
                for key in [key for key in self.chunk_items if key[0] == pk]:
                    del self.chunk_items[key]

    @contextlib.contextmanager
    def _as_the_index(self) -> Iterator[None]:
        # A room is legacy where heads get lost (as if it had postings before them).
        with (
            mock.patch.multiple(
                search_index,
                write=self.write,
                heads=self._stored_heads,
                newest=self.newest,
                chunks=self._stored_chunks,
                chunk_of=self.chunk_of,
                write_heads=self.write_heads,
            ),
            mock.patch.object(heads.messages, "any_older_of_types", lambda *a: bool(self.forget)),
        ):
            yield

    def _stored_heads(self, keys: list[str], consistent: bool = False) -> dict[str, Head]:
        return {key: copy.deepcopy(self.head_items[key]) for key in keys if key in self.head_items}

    def write(self, puts: list[Posting], deletes: list[Posting]) -> int:
        for posting in deletes:
            self._bucket(posting).pop((posting.message_id, posting.term), None)
        for posting in puts:
            self._bucket(posting)[(posting.message_id, posting.term)] = posting
        return 1

    def assert_heads_hold_their_buckets(self) -> None:
        """Each head, then its chunks newest first, hold exactly the postings of their
        bucket (a term's own head: of that term) at or above the oldest floor, newest first,
        each within its chunk's range."""
        self.flush()
        for pk, head in self.head_items.items():
            if pk.endswith("#r"):
                continue
            room_id, level, chars, term = (*pk.split("#"), None)[:4]
            if level == "w":
                level, chars, term = "6", chars[:6], chars
            rows = self.newest(f"{room_id}#{level}#{chars}", 10**6, term)
            held, top = list(head.entries), None
            floors = [head.floor]
            for number in range(head.chunks - 1, -1, -1):
                chunk = self.chunk_items[(pk, number)]
                top = floors[-1]
                assert all(chunk.floor is None or key >= chunk.floor for key, _ in chunk.entries)
                assert all(key < top for key, _ in chunk.entries)
                held += chunk.entries
                floors.append(chunk.floor)
            lowest = floors[-1]
            assert held == [row for row in rows if lowest is None or row[0] >= lowest], pk

    def newest(self, bucket_pk: str, count: int, term: str | None = None) -> list:
        room_id, level, chars = bucket_pk.split("#")
        rows = sorted(self.buckets[(room_id, int(level), chars)].items(), reverse=True)
        return [(f"{m}#{t}", p.visible_to) for (m, t), p in rows if term in (None, t)][:count]

    def heads(self, keys: list[str], consistent: bool = False) -> dict[str, Head]:
        """The heads (and rooms' marks) asked for, as a search reads them."""
        self.flush()
        return self._stored_heads(keys)

    def chunks(self, keys: list[tuple[str, int]], consistent: bool = False) -> dict:
        """The chunks asked for, as a search reads them (counted)."""
        self.chunk_reads += 1
        return self._stored_chunks(keys)

    def _stored_chunks(self, keys: list[tuple[str, int]], consistent: bool = False) -> dict:
        return {
            key: copy.deepcopy(self.chunk_items[key]) for key in keys if key in self.chunk_items
        }

    def chunk_of(self, bucket_pk: str, sort_key: str) -> int | None:
        floors = [floor for floor in self.locators[bucket_pk] if floor <= sort_key]
        return self.locators[bucket_pk][max(floors)] if floors else None

    def write_heads(self, changed: dict, changed_chunks: dict | None = None, new=()) -> int:
        for key, chunk in (changed_chunks or {}).items():
            self.chunk_items[key] = copy.deepcopy(chunk)
            if key in new:
                self.locators[key[0]][chunk.floor or ""] = key[1]
        if changed and self.rng.random() < self.fail:
            raise _FlushFailed
        self.head_items.update(copy.deepcopy(changed))
        return 1

    def _bucket(self, posting: Posting) -> dict[tuple[str, str], Posting]:
        return self.buckets[(posting.room_id, posting.level, posting.term[: posting.level])]

    def read(self, bucket: Bucket, *, below, inclusive, resume, viewer, limit) -> Page:
        self.reads += 1
        rows = sorted(
            self.buckets[(bucket.room_id, bucket.level, bucket.chars)].items(), reverse=True
        )
        if below is not None:
            rows = [r for r in rows if (r[0][0] <= below if inclusive else r[0][0] < below)]
        if resume is not None:
            mark = tuple(resume.split("|"))
            rows = [r for r in rows if r[0] < mark]
        evaluated, more = rows[:limit], len(rows) >= limit
        ids: list[str] = []
        for (message_id, term), posting in evaluated:
            if posting.visible_to is not None and posting.visible_to != viewer:
                continue
            if bucket.match == "exact" and term != bucket.value:
                continue
            if bucket.match == "prefix" and not term.startswith(bucket.value):
                continue
            if not ids or ids[-1] != message_id:
                ids.append(message_id)
        if not (more and evaluated):
            return Page(ids, None)
        return Page(ids, "|".join(evaluated[-1][0]), stopped_at=evaluated[-1][0][0])


# ------------------------------------------------------------------------------ postings
def test_a_message_posts_each_distinct_term_at_its_levels():
    posted = postings_of(message("m1", "Deploy the deployment, ok, then deploy again"))
    assert sorted((p.term, p.level) for p in posted.values()) == sorted(
        [(term, level) for term in ("deploy", "deployment", "again") for level in (1, 3, 6)]
        + [(term, level) for term in ("the", "then") for level in (1, 3, 6)]
        + [("ok", 1), ("ok", 3)]  # the level-3 bucket "ok" holds "ok" alone
    )
    assert all(p.room_id == "r1" and p.message_id == "m1" for p in posted.values())


@pytest.mark.parametrize(
    ("term", "levels"),
    [
        ("a", [1, 3]),
        ("ok", [1, 3]),
        ("dep", [1, 3, 6]),
        ("deplo", [1, 3, 6]),
        ("deployment", [1, 3, 6]),
    ],
)
def test_a_term_is_posted_at_the_levels_it_is_as_long_as_and_the_next(term, levels):
    assert levels_of(term) == levels


@pytest.mark.parametrize(
    "item",
    [
        message("m1", "hi", deleted=True, content_was="x"),
        message("m1", ""),
        message("m1", "partial answer", message_type="bot", status="streaming"),
        message("m1", "joined", message_type="system"),
        None,
    ],
)
def test_what_is_not_searchable_posts_nothing(item):
    assert not searchable(item)
    assert postings_of(item) == {}


@pytest.mark.parametrize("status", ["complete", "error", "stopped"])
def test_bot_answers_and_commands_are_searchable_once_they_stop_streaming(status):
    assert searchable(message("m1", "an answer", message_type="bot", status=status))
    assert searchable(message("m2", "@bot hello", message_type="command"))


def test_an_edit_writes_only_the_added_and_removed_terms():
    old = message("m1", "deploy the service")
    new = message("m1", "deploy the server", edited_at="2026-01-01T00:00:00.000Z")
    puts, deletes = changes(old, new)
    assert {(p.level, p.term) for p in puts} == {(1, "server"), (3, "server"), (6, "server")}
    assert {(p.level, p.term) for p in deletes} == {(1, "service"), (3, "service"), (6, "service")}


def test_a_reaction_or_a_checkpoint_writes_nothing():
    item = message("m1", "deploy the service")
    assert changes(item, {**item, "reactions": [{"emoji": "👍"}], "reactions_rev": 1}) == ([], [])
    streaming = message("m2", "par", message_type="bot", status="streaming")
    assert changes(streaming, {**streaming, "content": "partial"}) == ([], [])


def test_a_deletion_or_a_removal_deletes_every_posting():
    item = message("m1", "deploy the service")
    for after in ({**item, "deleted": True, "content": ""}, None):
        puts, deletes = changes(item, after)
        assert puts == [] and len(deletes) == 9


def test_making_a_message_private_rewrites_its_postings_with_the_viewer():
    item = message("m1", "secret plan")
    puts, deletes = changes(item, {**item, "visible_to": "alice"})
    assert deletes == [] and {p.visible_to for p in puts} == {"alice"} and len(puts) == 6


# ------------------------------------------------------------------------------ plan
@pytest.mark.parametrize(
    ("q", "expected"),
    [
        ("d", [(1, "d", "all", "d")]),
        ("de", [(1, "d", "prefix", "de")]),
        ("dep", [(3, "dep", "all", "dep")]),
        ("deplo", [(3, "dep", "prefix", "deplo")]),
        ("deploy", [(6, "deploy", "all", "deploy")]),
        ("deployme", [(6, "deploy", "prefix", "deployme")]),
        ("ok go", [(3, "ok", "all", "ok")]),  # a short prefix is not read, the text is checked
        ("dep x", [(6, "dep", "all", "dep")]),  # a 3-5 letter word: its own bucket
        (
            "deployment failed",
            [(6, "deploy", "exact", "deployment"), (6, "failed", "all", "failed")],
        ),
        ("deployment deplo", [(6, "deploy", "exact", "deployment")]),  # the prefix adds nothing
        (
            "a bb ccc dddd eeeee",
            [(6, "dddd", "all", "dddd"), (6, "ccc", "all", "ccc"), (3, "bb", "all", "bb")],
        ),
    ],
)
def test_which_buckets_a_query_reads(q, expected):
    query = parse_query(q)
    assert query is not None
    got = [(b.level, b.chars, b.match, b.value) for b in plan.buckets("r1", query)]
    assert got == expected


# ------------------------------------------------------------------------------ join
def _ids(n: int) -> list[str]:
    return [f"01M{i:023d}" for i in range(n)]  # 26 characters, sorting in storage order


def _index(texts: dict[str, str], room_id: str = "r1", **fields: Any) -> FakeIndex:
    index = FakeIndex()
    for message_id, text in texts.items():
        index.apply(None, message(message_id, text, room_id=room_id, **fields))
    return index


def _candidates(
    index: FakeIndex, q: str, *, want=10, before=None, viewer=None, reads=50, room_id="r1"
):
    query = parse_query(q)
    assert query is not None
    room = join.RoomJoin(
        room_id, plan.buckets(room_id, query), index.read, viewer=viewer, want=want, before=before
    )
    return join.settle(room, reads, index.chunks)


def test_the_join_finds_the_messages_holding_every_word_newest_first():
    ids = _ids(6)
    index = _index(
        dict(
            zip(
                ids,
                [
                    "deploy failed",
                    "deployment failed",
                    "failed",
                    "deployed",
                    "deployment",
                    "failed deployment!",
                ],
                strict=True,
            )
        )
    )
    found = _candidates(index, "deployment fail")
    assert found.message_ids == [ids[5], ids[1]]
    assert found.complete_from is None  # the room was read to its oldest message


def test_the_join_pages_below_before_and_reports_where_it_stopped():
    ids = _ids(30)
    index = _index({message_id: f"status report {n}" for n, message_id in enumerate(ids)})
    first = _candidates(index, "status rep", want=10)
    assert first.message_ids == ids[::-1][:10]
    assert first.complete_from == ids[20]
    second = _candidates(index, "status rep", want=10, before=first.message_ids[-1])
    assert second.message_ids == ids[::-1][10:20]


def test_a_join_out_of_reads_says_down_to_where_its_answer_is_complete(monkeypatch):
    monkeypatch.setattr(join, "MIN_PAGE", 10)
    monkeypatch.setattr(join, "MIN_PAGE_UNFILTERED", 10)
    monkeypatch.setattr(join, "MAX_PAGE", 10)
    ids = _ids(400)
    # "alpha" in the even messages, "beta" in the odd ones, both in the last one only
    texts = {m: ("alpha" if n % 2 == 0 else "beta") for n, m in enumerate(ids)}
    texts[ids[0]] = "alpha beta"
    index = _index(texts)
    found = _candidates(index, "alpha beta", reads=3)
    assert found.message_ids == [] and found.reads == 3
    assert found.complete_from is not None and found.complete_from > ids[0]
    # Nothing at or above it was a match, and reading on from it finds the one below.
    rest = _candidates(index, "alpha beta", before=found.complete_from, reads=1000)
    assert rest.message_ids == [ids[0]]


def test_private_postings_count_only_for_their_viewer():
    ids = _ids(2)
    index = _index({ids[0]: "launch plan"})
    index.apply(None, message(ids[1], "launch plan secret", visible_to="alice"))
    assert _candidates(index, "launch").message_ids == [ids[0]]
    assert _candidates(index, "launch", viewer="bob").message_ids == [ids[0]]
    assert _candidates(index, "launch", viewer="alice").message_ids == [ids[1], ids[0]]


def test_the_join_agrees_with_a_scan_of_every_message(monkeypatch):
    """Random rooms of random words, random queries: the join finds exactly what reading
    every message would, page after page, whatever the page size and the read budget."""
    rng = random.Random(7)
    vocabulary = ["deploy", "deployment", "deployed", "the", "then", "theory", "a", "an", "and",
                  "fail", "failed", "failure", "db", "de", "ok", "東", "京", "x1", "x2"]  # fmt: skip
    for _ in range(25):
        ids = _ids(rng.randint(1, 120))
        texts = {m: " ".join(rng.choices(vocabulary, k=rng.randint(1, 6))) for m in ids}
        index = _index(texts)
        q = " ".join(rng.choices(vocabulary, k=rng.randint(1, 3)))
        if rng.random() < 0.5:
            q = q[: max(1, len(q) - rng.randint(0, 3))]
        query = parse_query(q)
        assert query is not None
        expected = [m for m in reversed(ids) if query.matches(frozenset(tokens(texts[m])))]
        got: list[str] = []
        before, want, reads = None, rng.randint(1, 8), rng.randint(1, 6)
        monkeypatch.setattr(join, "MIN_PAGE", rng.choice((1, 3, 10, 200)))
        monkeypatch.setattr(join, "MIN_PAGE_UNFILTERED", rng.choice((1, 2, 50)))
        monkeypatch.setattr(join, "MAX_PAGE", rng.choice((2, 8, 1000)))
        for _ in range(1000):
            page = _candidates(index, q, want=want, before=before, reads=reads)
            # The join's buckets may yield more than the query (verified on the text later)
            got += [m for m in page.message_ids if query.matches(frozenset(tokens(texts[m])))]
            if page.complete_from is None:
                break
            before = page.complete_from
        assert got == expected, (q, texts)


# ------------------------------------------------------------------------------ merge
def test_a_page_across_rooms_never_skips_an_older_match_of_a_room_that_stopped_early():
    a, b = join.RoomCandidates, join.RoomCandidates
    rooms = [
        a("ra", ["09", "07", "05"], "05", 1),  # stopped at 3 (want): complete down to 05
        b("rb", ["08", "04", "02"], None, 1),  # read to its oldest message
    ]
    page, next_before = merge(rooms, 3)
    assert page == [("ra", "09"), ("rb", "08"), ("ra", "07")]
    assert next_before == "07"
    page, next_before = merge(rooms, 10)
    assert page == [("ra", "09"), ("rb", "08"), ("ra", "07"), ("ra", "05")]  # not rb's 04
    assert next_before == "05"


def test_the_last_page_has_no_next_before():
    rooms = [
        join.RoomCandidates("ra", ["3", "1"], None, 1),
        join.RoomCandidates("rb", ["2"], None, 1),
    ]
    assert merge(rooms, 5) == ([("ra", "3"), ("rb", "2"), ("ra", "1")], None)
    assert merge(rooms, 3) == ([("ra", "3"), ("rb", "2"), ("ra", "1")], None)
    assert merge(rooms, 2) == ([("ra", "3"), ("rb", "2")], "2")


# ------------------------------------------------------------------------------ across rooms
def test_paging_a_search_across_rooms_returns_every_match_once_newest_first(monkeypatch):
    """The whole search (join per room, merge, check against the stored text, rounds) over
    the in-memory index: paging with `next_before` yields exactly the matches of every room,
    newest first, each once, never another viewer's private message or a deleted one."""
    from chat.logic.search import service

    rng = random.Random(11)
    vocabulary = ["deploy", "deployment", "the", "then", "a", "fail", "failed", "ok", "京"]
    for attempt in range(80):
        head_size = rng.choice((None, 1, 3, 5, 32))
        chunk_size = rng.randint(1, head_size or 1)
        chunk_max = chunk_size * rng.choice((1, 2, 3))
        forget = rng.choice((0.0, 0.05))
        fail = rng.choice((0.0, 0.3))
        index = FakeIndex(head_size, forget, attempt, chunk_size, chunk_max, fail)
        stored: dict[tuple[str, str], dict[str, Any]] = {}
        ids = iter(_ids(400))
        rooms = [f"room{n}" for n in range(rng.randint(1, 5))]
        for _ in range(rng.randint(0, 150)):
            room = rng.choice(rooms)
            item = message(
                next(ids), " ".join(rng.choices(vocabulary, k=rng.randint(1, 5))), room_id=room
            )
            if rng.random() < 0.1:
                item["visible_to"] = rng.choice(["alice", "bob"])
            index.apply(None, item)
            if rng.random() < 0.1:  # deleted, the index not told yet (the stream lags)
                item = {**item, "deleted": True, "content": ""}
            stored[(room, item["message_id"])] = item
            if rng.random() < 0.15:  # an older message edited, and indexed again
                key = rng.choice(sorted(stored))
                if not stored[key].get("deleted"):
                    words = rng.choices(vocabulary, k=rng.randint(1, 5))
                    edited = {**stored[key], "content": " ".join(words)}
                    index.apply(stored[key], edited)
                    stored[key] = edited
        monkeypatch.setattr(join, "MIN_PAGE", rng.choice((1, 5, 200)))
        monkeypatch.setattr(join, "MIN_PAGE_UNFILTERED", rng.choice((1, 5, 50)))
        monkeypatch.setattr(join, "MAX_PAGE", rng.choice((2, 8, 1000)))
        monkeypatch.setattr(service, "READS_PER_ROOM", rng.choice((1, 3, 20)))
        monkeypatch.setattr(service.search_index, "read", index.read)
        monkeypatch.setattr(service.search_index, "heads", index.heads)
        monkeypatch.setattr(service.search_index, "chunks", index.chunks)
        monkeypatch.setattr(service, "_fresh_rooms", set())
        monkeypatch.setattr(service, "HEADS_PER_READ", rng.choice((2, 100)))  # 2: two steps
        monkeypatch.setattr(
            service.message_table,
            "get_messages",
            lambda keys, stored=stored: {k: stored[k] for k in keys if k in stored},
        )
        # Half the time, alice has left some of the rooms the search was given (the by_user
        # index lags): their matches are left out, as their memberships are read
        member = rng.choice((None, "alice-id"))
        left = {room for room in rooms if member and rng.random() < 0.3}
        membership_reads: list[list[str]] = []

        def of_member(keys, user_id, room_ids, stored=stored, left=left, reads=membership_reads):
            assert user_id == "alice-id"
            reads.append(list(room_ids))
            found = {k: stored[k] for k in keys if k in stored}
            return found, {room for room in room_ids if room not in left}

        monkeypatch.setattr(service.message_table, "get_messages_of_member", of_member)
        if head_size is not None:
            index.assert_heads_hold_their_buckets()
        q = " ".join(rng.choices(vocabulary, k=rng.randint(1, 2)))[: rng.randint(1, 20)]
        query = parse_query(q)
        if query is None:
            continue
        expected = sorted(
            (
                m["message_id"]
                for m in stored.values()
                if not m.get("deleted")
                and m.get("visible_to") in (None, "alice")
                and m["room_id"] not in left
                and query.matches(frozenset(tokens(m["content"])))
            ),
            reverse=True,
        )
        got: list[str] = []
        before, limit = None, rng.randint(1, 7)
        for _ in range(500):
            membership_reads.clear()
            page = service._search(rooms, query, "alice", limit, before, member)
            read = [room for rooms_read in membership_reads for room in rooms_read]
            assert len(read) == len(set(read))  # a room's membership read once a search
            assert len(page.results) <= limit
            got += [m.message_id for m in page.results]
            if page.next_before is None:
                break
            before = page.next_before
        assert got == expected, q


def test_a_search_across_rooms_reads_a_room_only_as_far_back_as_the_page_reaches(monkeypatch):
    """One room holds the newest matches, four others only older ones: the others are read
    until what they found is older than the page's candidates, not for a page of their own."""
    from chat.logic.search import service

    index, stored, reads = FakeIndex(), {}, Counter()
    ids = iter(_ids(200))
    rooms = ["old1", "old2", "old3", "old4", "new"]  # the new room's messages come last
    for room in rooms:
        for _ in range(40):
            item = message(next(ids), "ok then", room_id=room)
            index.apply(None, item)
            stored[(room, item["message_id"])] = item

    def read(bucket: Bucket, **kwargs: Any) -> Page:
        reads[bucket.room_id] += 1
        return index.read(bucket, **kwargs)

    monkeypatch.setattr(join, "_page_size", lambda bucket, want: 4)
    monkeypatch.setattr(join, "MAX_PAGE", 4)
    monkeypatch.setattr(service.search_index, "read", read)
    monkeypatch.setattr(service.search_index, "heads", index.heads)  # no heads
    monkeypatch.setattr(service.search_index, "chunks", index.chunks)
    monkeypatch.setattr(service, "_fresh_rooms", set())
    monkeypatch.setattr(
        service.message_table, "get_messages", lambda keys: {k: stored[k] for k in keys}
    )
    page = service._search(rooms, parse_query("ok"), "alice", 20, None)

    newest = sorted((k[1] for k in stored if k[0] == "new"), reverse=True)
    assert [m.message_id for m in page.results] == newest[:20]
    assert reads["new"] == 7  # 25 candidates (the page and a margin), 4 postings a read
    # in step with it until what they found is older than the 25 newest found in all: the
    # oldest rooms stop first; each would make 7 reads for 25 candidates of its own
    assert [reads[room] for room in rooms[:4]] == [2, 2, 3, 4], reads


def test_a_search_reading_far_back_in_every_room_reads_chunks_in_rounds_not_rooms(monkeypatch):
    """Two words each in half of every room's messages, together only in each room's oldest:
    every room is read to its bottom, from chunks asked for by all rooms at once, twice as
    many each round; nothing is Queried."""
    from chat.logic.search import service

    index, stored = FakeIndex(head_size=8, chunk_size=4), {}
    ids = iter(_ids(2_000))
    rooms = [f"room{n:02d}" for n in range(20)]
    for room in rooms:
        for n in range(80):
            text = "alpha beta" if n == 0 else ("alpha", "beta")[n % 2]
            item = message(next(ids), text, room_id=room)
            index.apply(None, item)
            stored[(room, item["message_id"])] = item
    monkeypatch.setattr(service.search_index, "read", index.read)
    monkeypatch.setattr(service.search_index, "heads", index.heads)
    monkeypatch.setattr(service.search_index, "chunks", index.chunks)
    monkeypatch.setattr(service, "_fresh_rooms", set())
    monkeypatch.setattr(
        service.message_table, "get_messages", lambda keys: {k: stored[k] for k in keys}
    )
    page = service._search(rooms, parse_query("alpha beta"), "alice", 20, None)

    assert [m.content for m in page.results] == ["alpha beta"] * 20
    assert page.next_before is None
    assert index.reads == 0
    # 40 postings below 8 in a head: 8 or 9 chunks a bucket, asked for as 1, 2, 4, 8
    assert index.chunk_reads == 4
