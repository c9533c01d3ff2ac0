"""What a message puts in the search index, and what a change of it writes.

A message is searchable while it is a person's text, a bot command or a bot answer that is
not deleted, not still streaming, and has text. Each of its distinct terms (terms.py) is
posted in its room's buckets of its first 1, 3 and 6 characters (`LEVELS`) as long as it is
that long, and in the bucket of the first level longer than itself, which then holds that
term alone (`ok` in the level-3 bucket `ok`, `dep` in the level-6 bucket `dep`):

- an exact word reads its own bucket (no filter), or, when it is 6 characters or longer, the
  bucket of its first six, filtered on the term;
- a prefix reads the bucket of the last level it is as long as (`de` the level-1 bucket `d`,
  `deplo` the level-3 bucket `dep`, `deployme` the level-6 bucket `deploy`), filtered on the
  prefix unless it is exactly that long.

So a term of one or two characters costs 2 posting writes, a longer one 3; a reaction or a
checkpoint of a streaming answer writes nothing, an edit only the added and removed terms'
postings; a deletion deletes them all (docs/search.md weighs this against other designs).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from chat.dal.search_index import Posting
from chat.logic.search.terms import terms

LEVELS = (1, 3, 6)
SEARCHABLE_TYPES = frozenset({"text", "command", "bot"})


def searchable(item: Mapping[str, Any] | None) -> bool:
    """Whether a stored message item is found by search (as it is now)."""
    return (
        item is not None
        and item.get("message_type") in SEARCHABLE_TYPES
        and not item.get("deleted")
        and item.get("status", "complete") != "streaming"
        and bool(item.get("content"))
    )


def postings_of(item: Mapping[str, Any] | None) -> dict[tuple[str, str, int, str], Posting]:
    """The postings of a message item, by key (room, message, level, term)."""
    if item is None or not searchable(item):
        return {}
    room_id, message_id = str(item["room_id"]), str(item["message_id"])
    visible_to = item.get("visible_to") or None
    found: dict[tuple[str, str, int, str], Posting] = {}
    for term in terms(str(item["content"])):
        for level in levels_of(term):
            found[(room_id, message_id, level, term)] = Posting(
                room_id, message_id, level, term, visible_to
            )
    return found


def levels_of(term: str) -> list[int]:
    """The levels a term is posted at: those it is as long as, and the first one longer."""
    shorter = [level for level in LEVELS if level <= len(term)]
    longer = [level for level in LEVELS if level > len(term)]
    return shorter + longer[:1]


def changes(
    old: Mapping[str, Any] | None, new: Mapping[str, Any] | None
) -> tuple[list[Posting], list[Posting]]:
    """(postings to put, postings to delete) to move the index from the `old` image of a
    message to its `new` one (None: it did not exist / no longer exists). Applying them
    twice, or applying a change again after it, leaves the same index."""
    before, after = postings_of(old), postings_of(new)
    puts = [posting for key, posting in after.items() if before.get(key) != posting]
    deletes = [posting for key, posting in before.items() if key not in after]
    return puts, deletes
