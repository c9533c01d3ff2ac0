"""The indexer: a change of one message (the old and new images of its stream record)
applied to the search index.

Only the difference is written (postings.changes), derived from the images alone: applying
a record twice, or a batch again from any record on (Lambda retries a stream batch from
the first failed record), leaves the same index. No idempotency store is needed, and none
is written: most records (reactions, checkpoints of streaming answers) write nothing.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from chat.dal import search_index
from chat.logic.search.postings import changes


@dataclass(frozen=True)
class Applied:
    puts: int
    deletes: int
    calls: int  # BatchWriteItem calls


def apply_change(old: Mapping[str, Any] | None, new: Mapping[str, Any] | None) -> Applied:
    """Move the index from a message's `old` image to its `new` one (None: absent)."""
    puts, deletes = changes(old, new)
    calls = search_index.write(puts, deletes) if puts or deletes else 0
    return Applied(puts=len(puts), deletes=len(deletes), calls=calls)
