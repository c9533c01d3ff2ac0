"""What is left of closing an account, done by the eraser from the erasure queue: the
rooms the user is still in, left; with `erase_messages`, every message they wrote
tombstoned as a deletion does (chat.logic.conversation.edits: the files go, the room hears
`message_deleted`, search forgets it).

A person's messages are found by the messages table's `by_author` index, a page at a time,
without a Scan. The job is idempotent and resumable: leaving a room already left and
tombstoning a tombstone change nothing; a job that runs short of time returns its
continuation (where it stands), and one that dies is received again and starts over from
the cursor it was sent with.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from aws_lambda_powertools.metrics import MetricUnit

from chat import aws
from chat.adapters.erasure_queue import ErasureJob
from chat.dal import messages as message_table
from chat.dal import users as user_table
from chat.logic.accounts.closing import leave_every_room
from chat.logic.conversation.edits import erase_message
from chat.observability import logger, metrics
from chat.principal import Principal

PAGE = 100  # messages read from the index at a time
_WORKERS = 8  # messages erased at once (below the DynamoDB client's 10 pooled connections)


@dataclass(frozen=True)
class Progress:
    erased: int  # messages tombstoned by this run
    continuation: ErasureJob | None  # what is left, when the time ran out


def finish_closing(job: ErasureJob, deadline: float) -> Progress:
    """Do what is left of a closed account's job until done or the monotonic `deadline`."""
    if user_table.get_closed_account(job.user_id) is None:
        # Only a closed account's job is queued: an open one was never closed.
        logger.warning("erasure job for an open account dropped", extra={"user_id": job.user_id})
        return Progress(0, None)
    if job.cursor is None:  # the first run: the rooms the closing request did not leave
        leave_every_room(Principal(job.user_id, job.username), strict=True)
    if not job.erase_messages:
        return Progress(0, None)
    return _erase_messages(job, deadline)


def _erase_messages(job: ErasureJob, deadline: float) -> Progress:
    cursor, erased = job.cursor, 0
    while True:
        keys, cursor = message_table.by_author(job.user_id, cursor, PAGE)
        erased += _erase(keys)
        if cursor is None:
            metrics.add_metric(name="AccountsErased", unit=MetricUnit.Count, value=1)
            logger.info("account's messages erased", extra={"user_id": job.user_id})
            return _counted(Progress(erased, None))
        if time.monotonic() >= deadline:
            return _counted(Progress(erased, job.continued(cursor)))


def _erase(keys: list[tuple[str, str]]) -> int:
    """Tombstone these messages, several at once; how many were live."""
    if not keys:
        return 0
    pool = aws.thread_pool("erase", _WORKERS)
    return sum(pool.map(lambda key: erase_message(*key), keys))


def _counted(progress: Progress) -> Progress:
    if progress.erased:
        metrics.add_metric(name="MessagesErased", unit=MetricUnit.Count, value=progress.erased)
    return progress
