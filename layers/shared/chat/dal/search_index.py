"""search index table: the postings of message terms, one item per (bucket, message, term).

A posting of `term` in message `message_id` of room `room_id` at prefix level `level` has

- `pk` = ``{room_id}#{level}#{term[:level]}``: the room's bucket of every term that starts
  with those `level` characters (a term shorter than `level` is a bucket of its own);
- `sk` = ``{message_id}#{term}``: newest message first when read backwards (message ids
  sort in storage order), the message's terms of one bucket next to each other;
- `t` = the term (what a Query's filter reads), and `v` = the viewer of a private message
  (absent: everyone in the room).

Each bucket may also have a *head*: one item (`pk` = the bucket's key + ``#h``, `sk` = ``h``)
listing the bucket's newest postings, `e` (their sort keys, newest first, with ``#viewer``
appended for a private one, separated by spaces), every posting of the bucket whose sort
key is at or above the floor `f` (no `f`: every posting of the bucket). A term as long as
the last level also has a head of its own postings in its bucket (``{room_id}#w#{term}#h``),
which an exact word read through that shared bucket starts from.

Below its floor, a head may have *chunks*, `n` of them: items `pk` = the head's key +
``#c``, `sk` = ``n`` and the chunk's number (0 the oldest), each holding, as a head does,
every posting at or above its floor `f` and below the next chunk's floor (the last one's:
the head's). Chunk 0 without a floor reaches to the bucket's oldest posting; with one, the
postings below it are read by Query. Each chunk has a locator beside it (`sk` = ``f`` and
its floor, `j` = its number), so the indexer finds the chunk of an old posting with one
Query. A search reads the heads of all the rooms and buckets it joins with BatchGetItem (a
hundred at a time) before it Queries anything, and then their chunks the same way, as far
down as it needs; a bucket without a head is read by Queries only.

Reads are single-bucket Queries, backwards, below a message id, filtered on `t` and `v`, and
BatchGetItem calls of heads and chunks. Writes are BatchWriteItem calls of up to 25 puts and
deletes.
All go through the client of the DynamoDB resource (thread-safe, unlike the resource's
tables: a search reads several rooms' buckets at once), which converts values to and from
attribute values.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal, NamedTuple

from chat import aws
from chat.dal.tables import batch_get, query_all, table_name

_BATCH_WRITE_MAX = 25
_WRITE_ATTEMPTS = 8
# Sort keys are `{message_id}#{term}`: "#" sorts below every character of an id, "$" just
# above "#", so `sk < id` is "messages older than id" and `sk < id$` is "up to id".
_UP_TO = "$"


class Posting(NamedTuple):
    """One term of one message in the bucket of its first `level` characters."""

    room_id: str
    message_id: str
    level: int
    term: str
    visible_to: str | None = None  # None: every member of the room


def bucket_key(room_id: str, level: int, term: str) -> str:
    return f"{room_id}#{level}#{term[:level]}"


def _key(posting: Posting) -> dict[str, str]:
    return {
        "pk": bucket_key(posting.room_id, posting.level, posting.term),
        "sk": f"{posting.message_id}#{posting.term}",
    }


def _item(posting: Posting) -> dict[str, str]:
    item = {**_key(posting), "t": posting.term}
    if posting.visible_to is not None:
        item["v"] = posting.visible_to
    return item


def _client() -> Any:
    return aws.dynamodb_resource().meta.client


def write(puts: Sequence[Posting], deletes: Sequence[Posting]) -> int:
    """Put and delete postings (a delete of a missing one is a no-op); returns the
    BatchWriteItem calls made. Unprocessed items are retried with a growing pause; still
    unprocessed after that, RuntimeError (the stream record is then retried as a whole,
    which is safe: putting or deleting a posting twice leaves the same index)."""
    requests = [{"PutRequest": {"Item": _item(p)}} for p in puts]
    requests += [{"DeleteRequest": {"Key": _key(p)}} for p in deletes]
    return _batch_write(requests)


def _batch_write(requests: list[dict[str, Any]]) -> int:
    name = table_name("search_index")
    calls = 0
    for start in range(0, len(requests), _BATCH_WRITE_MAX):
        pending = {name: requests[start : start + _BATCH_WRITE_MAX]}
        for attempt in range(_WRITE_ATTEMPTS):
            calls += 1
            pending = _client().batch_write_item(RequestItems=pending).get("UnprocessedItems")
            if not pending:
                break
            time.sleep(min(0.05 * 2**attempt, 2.0))
        else:
            raise RuntimeError("search index writes stayed unprocessed (throttled)")
    return calls


Match = Literal["all", "exact", "prefix"]


@dataclass(frozen=True)
class Bucket:
    """What one read of the index looks at: a bucket of a room, and which of its terms
    count (`all` of them, the `exact` term `value`, or terms starting with `value`)."""

    room_id: str
    level: int
    chars: str
    match: Match
    value: str


@dataclass(frozen=True)
class Page:
    message_ids: list[str]  # newest first, each once (a message may have several terms here)
    resume: str | None  # pass as `resume` to read on; None: nothing older is left
    # The message the read stopped in (its other postings of the bucket may be unread):
    # every newer one below the bound was read. None when nothing older is left.
    stopped_at: str | None = None


def read(
    bucket: Bucket,
    *,
    below: str | None,
    inclusive: bool,
    resume: str | None,
    viewer: str | None,
    limit: int,
) -> Page:
    """One Query: postings of the bucket's matching terms in messages older than `below`
    (or up to it, `inclusive`), read on from `resume` if that is further down, newest
    first. At most `limit` postings are read (fewer match after the filter). Private
    postings count only for their `viewer` (None: none do)."""
    bound = sort_bound(below, inclusive)
    if resume is not None and (bound is None or resume < bound):
        bound = resume
    condition = "pk = :pk"
    values = {":pk": bucket_key(bucket.room_id, bucket.level, bucket.chars)}
    if bound is not None:
        condition += " AND sk < :below"
        values[":below"] = bound
    filters = ["(attribute_not_exists(v) OR v = :viewer)" if viewer else "attribute_not_exists(v)"]
    if viewer:
        values[":viewer"] = viewer
    if bucket.match == "exact":
        filters.append("t = :term")
        values[":term"] = bucket.value
    elif bucket.match == "prefix":
        filters.append("begins_with(t, :term)")
        values[":term"] = bucket.value
    response = _client().query(
        TableName=table_name("search_index"),
        KeyConditionExpression=condition,
        FilterExpression=" AND ".join(filters),
        ExpressionAttributeValues=values,
        ProjectionExpression="sk",
        ScanIndexForward=False,
        Limit=limit,
    )
    ids: list[str] = []
    for item in response["Items"]:
        message_id = item["sk"].split("#", 1)[0]
        if not ids or ids[-1] != message_id:
            ids.append(message_id)
    last = response.get("LastEvaluatedKey")
    if not last:
        return Page(message_ids=ids, resume=None)
    resume = last["sk"]
    return Page(message_ids=ids, resume=resume, stopped_at=resume.split("#", 1)[0])


def sort_bound(below: str | None, inclusive: bool) -> str | None:
    """The sort key every posting of a message older than `below` (or up to it, `inclusive`)
    sorts below, and no other does; None: no bound."""
    return None if below is None else below + (_UP_TO if inclusive else "")


# ------------------------------------------------------------------------------ heads
class _Held:
    """Postings as a head or a chunk holds them: `entries` are (sort key, viewer) newest
    first. Read from the table, they are parsed from the stored text when first used; a
    search takes them as stored instead (`texts`), and parses only those it looks at."""

    __slots__ = ("_entries", "_text", "floor")

    def __init__(
        self,
        entries: list[tuple[str, str | None]] | None,
        floor: str | None,
        *,
        text: str = "",
    ) -> None:
        self._entries, self._text, self.floor = entries, text, floor

    @property
    def entries(self) -> list[tuple[str, str | None]]:
        if self._entries is None:
            self._entries = [_parse_entry(text) for text in self._text.split()]
        return self._entries

    @entries.setter
    def entries(self, entries: list[tuple[str, str | None]]) -> None:
        self._entries = entries

    def texts(self) -> list[str]:
        """The postings as stored (sort key, then ``#viewer`` for a private one), oldest
        first: sorted, so a reader can bisect them by message id."""
        if self._entries is None:
            return self._text.split()[::-1]
        return [_entry(sort_key, viewer) for sort_key, viewer in reversed(self._entries)]

    def _state(self) -> tuple[Any, ...]:
        return (self.entries, self.floor)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, type(self)) and self._state() == other._state()

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"{type(self).__name__}{self._state()!r}"


class Head(_Held):
    """A bucket's newest postings: every posting of the bucket whose sort key is at or
    above `floor` (None: every posting of the bucket, which then has no others); below the
    floor, `chunks` chunks."""

    __slots__ = ("chunks",)

    def __init__(
        self,
        entries: list[tuple[str, str | None]] | None,
        floor: str | None,
        chunks: int = 0,
        *,
        text: str = "",
    ) -> None:
        super().__init__(entries, floor, text=text)
        self.chunks = chunks

    def _state(self) -> tuple[Any, ...]:
        return (self.entries, self.floor, self.chunks)


class Chunk(_Held):
    """Postings of a bucket below its head, as a head holds them: every one at or above
    `floor` (None: down to the bucket's oldest) and below the next chunk's floor."""

    __slots__ = ()


ChunkKey = tuple[str, int]  # (the head's key, the chunk's number)


def _head_key(bucket_pk: str) -> dict[str, str]:
    return {"pk": bucket_pk + "#h", "sk": "h"}


def _chunk_key(key: ChunkKey) -> dict[str, str]:
    return {"pk": key[0] + "#c", "sk": f"n{key[1]:08d}"}


def _locator_key(bucket_pk: str, floor: str | None) -> dict[str, str]:
    return {"pk": bucket_pk + "#c", "sk": "f" + (floor or "")}


def _entry(sort_key: str, viewer: str | None) -> str:
    return sort_key if viewer is None else f"{sort_key}#{viewer}"


def _parse_entry(text: str) -> tuple[str, str | None]:
    message_id, term, *viewer = text.split("#", 2)
    return f"{message_id}#{term}", viewer[0] if viewer else None


def _joined(entries: Sequence[tuple[str, str | None]]) -> str:
    return " ".join(_entry(sort_key, viewer) for sort_key, viewer in entries)


def heads(bucket_pks: Sequence[str], *, consistent: bool = False) -> dict[str, Head]:
    """The heads of these buckets (keys as `bucket_key` makes them) that exist, one
    BatchGetItem per 100 (tables.batch_get); `consistent` for the indexer, which changes
    what it reads."""
    keys = [_head_key(pk) for pk in dict.fromkeys(bucket_pks)]
    return {
        item["pk"][: -len("#h")]: Head(
            None, item.get("f"), int(item.get("n", 0)), text=item.get("e", "")
        )
        for item in batch_get("search_index", keys, ConsistentRead=consistent)
    }


def chunks(keys: Sequence[ChunkKey], *, consistent: bool = False) -> dict[ChunkKey, Chunk]:
    """The chunks of these keys that exist, one BatchGetItem per 100."""
    asked = [_chunk_key(key) for key in dict.fromkeys(keys)]
    return {
        (item["pk"][: -len("#c")], int(item["sk"][1:])): Chunk(
            None, item.get("f"), text=item.get("e", "")
        )
        for item in batch_get("search_index", asked, ConsistentRead=consistent)
    }


def chunk_of(bucket_pk: str, sort_key: str) -> int | None:
    """The number of the head's chunk a posting of this sort key belongs to (the one with
    the highest floor at or below it), by its locator; None when it is below them all."""
    response = _client().query(
        TableName=table_name("search_index"),
        KeyConditionExpression="pk = :pk AND sk BETWEEN :lowest AND :key",
        ExpressionAttributeValues={
            ":pk": bucket_pk + "#c",
            ":lowest": "f",
            ":key": "f" + sort_key,
        },
        ScanIndexForward=False,
        ConsistentRead=True,
        Limit=1,
    )
    return int(response["Items"][0]["j"]) if response["Items"] else None


def room_mark_key(room_id: str) -> str:
    """The key of the room's mark, a head-shaped item: `f` = ``fresh`` when every posting
    of the room went through its bucket's head (a bucket without one is empty), ``legacy``
    when the room had postings before it was marked (such a bucket is unknown)."""
    return f"{room_id}#r"


def word_key(room_id: str, term: str) -> str:
    """The key of the head of one term of at least the last level's length: the postings of
    that term alone in the bucket of its first characters."""
    return f"{room_id}#w#{term}"


def head_pk(bucket: Bucket) -> str:
    """The key of the head a read of `bucket` starts from: a term's own head for an exact
    word read through a shared bucket, the bucket's otherwise."""
    if bucket.match == "exact":
        return word_key(bucket.room_id, bucket.value)
    return bucket_key(bucket.room_id, bucket.level, bucket.chars)


def newest(
    bucket_pk: str, count: int | None, term: str | None = None
) -> list[tuple[str, str | None]]:
    """The bucket's newest `count` postings (None: all of them; of `term` only, if given),
    (sort key, viewer) newest first: one Query, more when a filter leaves fewer than
    `count`."""
    kwargs: dict[str, Any] = {
        "TableName": table_name("search_index"),
        "KeyConditionExpression": "pk = :pk",
        "ExpressionAttributeValues": {":pk": bucket_pk},
        "ProjectionExpression": "sk, v",
        "ScanIndexForward": False,
    }
    if count is not None:
        kwargs["Limit"] = count if term is None else max(count, 200)
    if term is not None:
        kwargs["FilterExpression"] = "t = :term"
        kwargs["ExpressionAttributeValues"][":term"] = term
    found: list[tuple[str, str | None]] = []
    while count is None or len(found) < count:
        response = _client().query(**kwargs)
        found += [(item["sk"], item.get("v")) for item in response["Items"]]
        if "LastEvaluatedKey" not in response:
            break
        kwargs["ExclusiveStartKey"] = response["LastEvaluatedKey"]
    return found if count is None else found[:count]


def write_heads(
    changed: dict[str, Head],
    changed_chunks: dict[ChunkKey, Chunk] | None = None,
    new_chunks: Sequence[ChunkKey] = (),
) -> int:
    """Put these heads (by bucket key), after these chunks and the locators of the `new`
    ones: a head never names a chunk that is not there. Returns the BatchWriteItem calls."""
    new = set(new_chunks)
    chunk_requests: list[dict[str, Any]] = []
    for key, chunk in (changed_chunks or {}).items():
        item: dict[str, Any] = {**_chunk_key(key), "e": _joined(chunk.entries)}
        if chunk.floor is not None:
            item["f"] = chunk.floor
        chunk_requests.append({"PutRequest": {"Item": item}})
        if key in new:
            locator = {**_locator_key(key[0], chunk.floor), "j": key[1]}
            chunk_requests.append({"PutRequest": {"Item": locator}})
    calls = _batch_write(chunk_requests)
    requests: list[dict[str, Any]] = []
    for bucket_pk, head in changed.items():
        item = {**_head_key(bucket_pk), "e": _joined(head.entries)}
        if head.floor is not None:
            item["f"] = head.floor
        if head.chunks:
            item["n"] = head.chunks
        requests.append({"PutRequest": {"Item": item}})
    return calls + _batch_write(requests)


def chunk_keys(bucket_pk: str) -> list[dict[str, str]]:
    """The keys of every chunk and locator of a head (for a rebuild, which deletes them)."""
    return query_all(
        "search_index",
        KeyConditionExpression="pk = :pk",
        ExpressionAttributeValues={":pk": bucket_pk + "#c"},
        ProjectionExpression="pk, sk",
    )


def delete_items(keys: Sequence[dict[str, str]]) -> int:
    """Delete these items of the index; returns the BatchWriteItem calls made."""
    return _batch_write([{"DeleteRequest": {"Key": dict(key)}} for key in keys])


def admitted(bucket: Bucket, text: str, viewer: str | None) -> str | None:
    """The message id of a posting as a head or chunk stores it (`texts`) when it counts for
    a read of the bucket (what `read`'s filter keeps); None when it does not."""
    message_id, term, *visible_to = text.split("#", 2)
    if visible_to and visible_to[0] != viewer:
        return None
    if bucket.match == "exact":
        return message_id if term == bucket.value else None
    if bucket.match == "prefix":
        return message_id if term.startswith(bucket.value) else None
    return message_id
