"""Which buckets of a room a query reads (postings.py says what each bucket holds).

Every word of the query must be in a result, but not every word needs to be read from the
index: the join walks at most `MAX_STREAMS` buckets in step, and each candidate it yields
is then checked against the message's current text, which holds every word or is dropped.
Longer exact words go first (they are the rarer ones); the prefix joins them when it adds
something, and not when it is shorter than the second level and exact words already narrow
the search (the bucket of one character holds a large share of the room's terms).
"""

from __future__ import annotations

from chat.dal.search_index import Bucket, Match
from chat.logic.search.postings import LEVELS
from chat.logic.search.terms import Query

MAX_STREAMS = 3


def exact_bucket(room_id: str, word: str) -> Bucket:
    """The bucket holding `word`: the word's own (the first level longer than it), or, for a
    word as long as the last level, the bucket of its first characters, filtered."""
    level = next((level for level in LEVELS if level > len(word)), None)
    if level is not None:
        return Bucket(room_id, level, word, "all", word)
    return Bucket(room_id, LEVELS[-1], word[: LEVELS[-1]], "exact", word)


def prefix_bucket(room_id: str, prefix: str) -> Bucket:
    """The bucket of every term starting with `prefix`: the last level it is as long as."""
    level = max(level for level in LEVELS if level <= len(prefix))
    match: Match = "all" if len(prefix) == level else "prefix"
    return Bucket(room_id, level, prefix[:level], match, prefix)


def buckets(room_id: str, query: Query) -> list[Bucket]:
    """The buckets to join for `query` in one room (at least one)."""
    exact = sorted(query.exact, key=len, reverse=True)
    chosen = [exact_bucket(room_id, word) for word in exact[:MAX_STREAMS]]
    covered = any(word.startswith(query.prefix) for word in query.exact)
    useful = not exact or len(query.prefix) >= LEVELS[1]
    if len(chosen) < MAX_STREAMS and not covered and useful:
        chosen.append(prefix_bucket(room_id, query.prefix))
    return chosen
