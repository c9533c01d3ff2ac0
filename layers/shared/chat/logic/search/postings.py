"""What a message puts in the search index, and what a change of it writes.

A message is searchable while it is a person's text, a bot command or a bot answer that is
not deleted, not still streaming, and has text. Each of its distinct terms (terms.py) is
posted twice, in the room's bucket of the term's first character and in the bucket of its
first three (`LEVELS`):

- an exact word reads the bucket of its first three characters, filtered on the term (a
  word of one or two characters has that bucket to itself);
- a prefix of three or more characters reads the same bucket, filtered on the prefix; a
  prefix of one or two characters reads the bucket of its first character.

So a message of n distinct terms costs 2n posting writes when stored, none when a reaction
or a checkpoint of a streaming answer changes it, and only the added and removed terms'
postings when it is edited; a deletion deletes its 2n postings (docs/search.md weighs this
against one posting per prefix).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from chat.dal.search_index import Posting
from chat.logic.search.terms import terms

LEVELS = (1, 3)
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
        for level in LEVELS:
            posting = Posting(room_id, message_id, level, term, visible_to)
            found[(room_id, message_id, level, term)] = posting
    return found


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
