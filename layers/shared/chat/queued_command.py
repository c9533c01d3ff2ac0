"""A bot command as the bot queue carries it, from the API functions to the worker: one SQS
FIFO message whose body is ``{"room_id", "message_id", "generation"?}``.

Messages are grouped by room, so a room's commands are answered one at a time and in order
while rooms run in parallel. A regeneration (``generation`` 1, 2 …) is the same command
queued again: its body names the generation and its deduplication id is the command's id
with the generation, so FIFO deduplication drops a resend of one request but never a
deliberate regeneration. Generation 0, the first answer, is left out of the body.

Beside the body, the message attribute ``correlation_id`` names the request that queued the
command (chat.adapters.bot_queue writes it, chat.transport.sqs logs the answer under it).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

CORRELATION_ID = "correlation_id"  # the message attribute


@dataclass(frozen=True)
class QueuedCommand:
    room_id: str
    message_id: str  # the command message
    generation: int = 0

    @property
    def group_id(self) -> str:
        return self.room_id

    @property
    def deduplication_id(self) -> str:
        return self.message_id if not self.generation else f"{self.message_id}.{self.generation}"

    def body(self) -> str:
        fields: dict[str, Any] = {"room_id": self.room_id, "message_id": self.message_id}
        if self.generation:
            fields["generation"] = self.generation
        return json.dumps(fields)

    @classmethod
    def from_body(cls, body: str) -> QueuedCommand:
        """The command of a queue message's body; KeyError, ValueError or TypeError when it
        is not one."""
        fields = json.loads(body)
        return cls(
            room_id=str(fields["room_id"]),
            message_id=str(fields["message_id"]),
            generation=int(fields.get("generation") or 0),
        )

    def log_keys(self) -> dict[str, Any]:
        """The keys every log line about this command carries."""
        return {
            "room_id": self.room_id,
            "message_id": self.message_id,
            "generation": self.generation,
        }
