"""The budget of one bot answer: its time (deadlines, stalls, retries), its size and its
checkpoints. Not the rate limits on commands, which are chat.logic.rate_limits."""

from __future__ import annotations

from dataclasses import dataclass

from chat.frames import MAX_FRAME_BYTES
from chat.logic.bot.context import MAX_MESSAGES


@dataclass(frozen=True)
class AnswerBudget:
    """Seconds and bytes one answer may take. Tests replace ``BUDGET``."""

    answer_timeout: float = 90.0  # the whole answer, retries included
    stall_timeout: float = 20.0  # connecting, first byte, any pause between bytes
    margin: float = 6.0  # kept before the Lambda deadline to store and push the end
    # A call hanging past the deadline: the answer is ended this long before the Lambda
    # deadline whatever the run is doing (chat.logic.bot.answer, the last chance).
    last_chance: float = 2.0
    min_answer: float = 5.0  # less time than this left: do not start a command
    attempts: int = 3  # model calls per answer (retries only before any text)
    backoff: float = 0.4  # first retry wait; doubled each time, with jitter
    max_retry_wait: float = 3.0  # a rate limit asking for longer is not retried
    max_output_tokens: int = 8192
    # full_response as JSON, so the final frame (with its envelope) stays under the limit
    max_answer_bytes: int = MAX_FRAME_BYTES - 2 * 1024
    # of an answer with tools: what its final frame's tool_calls and sources may take (as
    # JSON); its text gets that much less
    max_tool_bytes: int = 4 * 1024
    history_messages: int = MAX_MESSAGES  # messages read before the command (one Query)
    # While text arrives, the stored answer is brought up to date this often (a conditional
    # write that also learns of a stop); while the model pauses, a read learns of a stop.
    # Bounds both the stored prefix's age and a stop's latency (the contract: 2 s).
    checkpoint_interval: float = 1.0
    coalesce_window: float = 0.1
    coalesce_chars: int = 1024
    idempotency_seconds: int = 24 * 3600  # the queue's retention: any redelivery is covered


BUDGET = AnswerBudget()
