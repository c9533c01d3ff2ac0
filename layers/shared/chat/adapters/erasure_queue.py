"""The account erasure queue (SQS, standard): what is left of closing an account, for the
eraser (chat.transport.erasure): the rooms the account is still in, and with
`erase_messages` every message it wrote. A job that runs out of time sends its own
continuation (`cursor`: where the erasure of the messages stands)."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, replace
from typing import Any

from chat import aws
from chat.config import settings

# A closing request leaves the rooms itself; the job starts a few seconds later, when that
# is usually done (it leaves whatever is left, so it never depends on it).
START_DELAY_SECONDS = 5


@dataclass(frozen=True)
class ErasureJob:
    user_id: str
    username: str
    erase_messages: bool
    cursor: dict[str, str] | None = None  # where the erasure stands (chat.dal.messages)

    def body(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_body(cls, body: str) -> ErasureJob:
        """The job of a queue message's body; KeyError, ValueError or TypeError when it is
        not one."""
        fields: dict[str, Any] = json.loads(body)
        cursor = fields.get("cursor")
        if cursor is not None and not isinstance(cursor, dict):
            raise TypeError("cursor must be an object")
        return cls(
            user_id=str(fields["user_id"]),
            username=str(fields["username"]),
            erase_messages=bool(fields["erase_messages"]),
            cursor={str(k): str(v) for k, v in cursor.items()} if cursor else None,
        )

    def continued(self, cursor: dict[str, str]) -> ErasureJob:
        return replace(self, cursor=cursor)


def enqueue(job: ErasureJob, delay_seconds: int = 0) -> None:
    queue_url = settings().account_erasure_queue_url
    if not queue_url:  # the functions that close accounts require it (require_settings)
        raise RuntimeError("ACCOUNT_ERASURE_QUEUE_URL is not set for this function")
    aws.sqs().send_message(QueueUrl=queue_url, MessageBody=job.body(), DelaySeconds=delay_seconds)
