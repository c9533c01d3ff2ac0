"""The notifications queue (SQS, standard): what the notifier function is asked to do, one
job per message. Posting a message, editing one and a bot answer ending queue a job (after
the room has its frames); the notifier decides who hears of it, and how, when it runs.

A job's body is JSON: ``{"kind", "room_id", "message_id", ...}``:

- ``message``: a message was stored;
- ``edit``: an edit mentions these members for the first time (``mentioned``, usernames);
- ``answer``: a bot answer ended complete;
- ``retry``: one push that failed for a reason worth retrying (``user_id``,
  ``subscription_id``, ``payload``, ``attempt``), sent again after a growing delay.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Literal

from aws_lambda_powertools.metrics import MetricUnit

from chat import aws
from chat.config import settings
from chat.observability import logger, metrics

JobKind = Literal["message", "edit", "answer", "retry"]
MAX_DELAY_SECONDS = 900  # SQS's longest message delay


@dataclass(frozen=True)
class NotificationJob:
    kind: JobKind
    room_id: str
    message_id: str
    mentioned: tuple[str, ...] = ()  # edit: the members it mentions for the first time
    user_id: str = ""  # retry: whose subscription
    subscription_id: str = ""
    payload: str = ""  # retry: the notification, as JSON
    attempt: int = 0  # retry: how many sends failed before this one

    def body(self) -> str:
        fields: dict[str, Any] = {
            "kind": self.kind,
            "room_id": self.room_id,
            "message_id": self.message_id,
        }
        if self.mentioned:
            fields["mentioned"] = list(self.mentioned)
        if self.kind == "retry":
            fields.update(
                user_id=self.user_id,
                subscription_id=self.subscription_id,
                payload=self.payload,
                attempt=self.attempt,
            )
        return json.dumps(fields, ensure_ascii=False, separators=(",", ":"))

    @classmethod
    def from_body(cls, body: str) -> NotificationJob:
        """The job of a queue message's body; KeyError, ValueError or TypeError if it is not one."""
        fields = json.loads(body)
        kind = fields["kind"]
        if kind not in ("message", "edit", "answer", "retry"):
            raise ValueError(f"unknown job kind {kind!r}")
        return cls(
            kind=kind,
            room_id=str(fields["room_id"]),
            message_id=str(fields["message_id"]),
            mentioned=tuple(str(name) for name in fields.get("mentioned") or ()),
            user_id=str(fields.get("user_id") or ""),
            subscription_id=str(fields.get("subscription_id") or ""),
            payload=str(fields.get("payload") or ""),
            attempt=int(fields.get("attempt") or 0),
        )

    def log_keys(self) -> dict[str, Any]:
        return {"job": self.kind, "room_id": self.room_id, "message_id": self.message_id}


def enqueue(job: NotificationJob, delay_seconds: int = 0) -> None:
    aws.sqs().send_message(
        QueueUrl=settings().notifications_queue_url,
        MessageBody=job.body(),
        DelaySeconds=max(0, min(delay_seconds, MAX_DELAY_SECONDS)),
    )


def submit(job: NotificationJob) -> bool:
    """Queue a job after what it is about has happened (and been pushed to the room): a
    failure is logged and counted, never raised to the caller, whose request succeeded."""
    try:
        enqueue(job)
        return True
    except Exception:
        logger.exception("could not queue a notification job", extra=job.log_keys())
        metrics.add_metric(name="NotificationJobsNotQueued", unit=MetricUnit.Count, value=1)
        return False
