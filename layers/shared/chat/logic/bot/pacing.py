"""The pace of one answer's frames in a big room: its share of the account's send budget.

Every frame of an answer is one push per subscribed connection, and API Gateway allows the
account a rate of requests in all (``SendBudgetPerSecond``, 10,000/s by default), pushes to
every room included. One answer's share is that budget over the answers that may stream at
once (``BotWorkerMaxConcurrency``). In a room of more than 100 subscriptions (the contract
lets frames come up to 1 s apart there) the answer's frames are spaced so that frames ×
subscribers per second stays within the share: ``subscribers / share`` seconds apart, at
least the coalescer's own window, at most 1 s (0.98 s, for the pushes' own jitter). Above
``share`` subscribers even 1 s is too often; the answer then takes more than its share
(``over_share``: the deployment needs a bigger budget, docs/big-rooms.md). Where a frame every
0.98 s would take more than the account's whole budget by itself (above 9,700 connections
at the default budget), the budget wins over the contract's second: frames go ``subscribers
/ budget`` seconds apart, and 1 % more (1.01 s at 10,000).

When pushes are throttled anyway (API Gateway answered 429: other rooms, other answers), the
spacing doubles, up to 4 s, and comes back down by halves once pushes go through: the
answer coalesces more text into fewer frames rather than dropping any.

Pure: the clock is given, nothing here pushes or sleeps (chat.logic.bot.room_feed does).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

PACED_ABOVE = 100  # subscriptions; at most, frames come as fast as the coalescer makes them
MAX_SPACING = 1.0  # seconds between two frames the contract allows in a paced room
# Spacing at most this: a frame's pushes begin a few milliseconds after its turn (the
# subscriber Query, the loop's wake-up), and must still come within the contract's 1 s.
LONGEST_SPACING = 0.98
# A room paced by the account's whole budget keeps this much below it: a frame's pushes do
# not all take the same time from one frame to the next.
BUDGET_MARGIN = 1.01
MAX_BACKOFF = 4.0  # throttled: the spacing grows up to this many times


def frame_spacing(
    recipients: int, share: float, base_window: float, budget: float | None = None
) -> float:
    """Seconds between two frames to ``recipients`` connections within ``share`` pushes per
    second (0: as fast as the coalescer goes, in a room of at most 100), and never more
    often than the account's whole ``budget`` allows."""
    if recipients <= PACED_ABOVE:
        return 0.0
    spacing = min(LONGEST_SPACING, max(base_window, recipients / share))
    if budget:  # a frame a second would take more than the account's budget by itself
        spacing = max(spacing, recipients * BUDGET_MARGIN / budget)
    return spacing


@dataclass
class SendPacer:
    share: float  # pushes per second this answer may make
    base_window: float  # the coalescer's window in any room
    budget: float | None = None  # the account's pushes per second, every room's
    clock: Callable[[], float] = time.monotonic
    recipients: int = 0  # connections of the last frame
    backoff: float = 1.0  # 1, or more after throttled pushes
    next_at: float = 0.0  # clock time from which the next frame may go

    @property
    def paced(self) -> bool:
        return self.recipients > PACED_ABOVE

    @property
    def over_share(self) -> bool:
        """Even a frame a second is more pushes than the share."""
        return self.paced and self.recipients / self.share > MAX_SPACING

    def spacing(self, recipients: int | None = None) -> float:
        """Seconds from one frame to the next (backing off, at least the base window's
        multiple, in a room of any size): for the last frame's recipients, or for
        ``recipients`` (a frame about to go, the first one included, whose spread over the
        time to the next is sized from the connections it is for)."""
        count = self.recipients if recipients is None else recipients
        spacing = frame_spacing(count, self.share, self.base_window, self.budget)
        if self.backoff > 1:
            spacing = max(spacing, self.base_window)
        return spacing * self.backoff

    def wait(self) -> float:
        """Seconds until the next frame may go."""
        return max(0.0, self.next_at - self.clock())

    def sent(self, recipients: int, throttled: int = 0, *, at: float | None = None) -> bool:
        """A frame went to ``recipients`` connections, ``throttled`` of them refused for the
        account's rate; ``at``: when its pushes began (default: now), from which the next
        frame's turn counts. True if that made the pacer back off."""
        began = self.clock() if at is None else at
        self.recipients = recipients
        backed_off = bool(throttled) and self.backoff < MAX_BACKOFF
        if throttled:
            self.backoff = min(MAX_BACKOFF, self.backoff * 2)
        else:
            self.backoff = max(1.0, self.backoff / 2)
        self.next_at = max(self.next_at, began) + self.spacing()
        return backed_off
