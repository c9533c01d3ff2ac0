"""The indexer: a change of one message (the old and new images of its stream record)
applied to the search index.

Only the difference is written (postings.changes), derived from the images alone: applying
a record twice, or a batch again from any record on (Lambda retries a stream batch from
the first failed record), leaves the same index. No idempotency store is needed, and none
is written: most records (reactions, checkpoints of streaming answers) write nothing. The
buckets' heads follow the postings (heads.py), written once per batch.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from chat.dal import search_index
from chat.logic.search.heads import HeadBatch
from chat.logic.search.postings import changes


@dataclass(frozen=True)
class Applied:
    puts: int
    deletes: int
    calls: int  # BatchWriteItem calls


def apply_change(
    old: Mapping[str, Any] | None, new: Mapping[str, Any] | None, heads: HeadBatch
) -> Applied:
    """Move the index from a message's `old` image to its `new` one (None: absent): its
    postings written now, its buckets' heads changed in `heads` (written by its flush)."""
    puts, deletes = changes(old, new)
    if not (puts or deletes):
        return Applied(puts=0, deletes=0, calls=0)
    calls = search_index.write(puts, deletes)
    heads.apply(puts, deletes, created=old is None)
    return Applied(puts=len(puts), deletes=len(deletes), calls=calls)
