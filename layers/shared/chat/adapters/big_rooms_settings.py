"""The big-room settings a function runs with: the fan-out's threshold and shard size, the
account's send budget and the bot answers that may stream at once (docs/big-rooms.md).

The functions that push get them as environment variables (chat.config). The bot worker
reads them from an SSM parameter (`BIG_ROOMS_PARAMETER`, a JSON object of the same names),
kept for a minute: its VersionDescription has no room left for the parameter values, so a
changed value would not publish a new version of it (template.yaml, BigRoomsSettings).
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass

from chat import aws
from chat.config import settings

CACHE_SECONDS = 60.0

_lock = threading.Lock()
_cached: tuple[float, BigRooms] | None = None


@dataclass(frozen=True)
class BigRooms:
    fanout_shard_threshold: int
    fanout_shard_size: int
    send_budget_per_second: int
    bot_worker_max_concurrency: int

    @property
    def answer_share(self) -> float:
        """Pushes per second one bot answer may make: the budget over the answers at once."""
        return self.send_budget_per_second / self.bot_worker_max_concurrency


def current() -> BigRooms:
    """The settings now: the SSM parameter's (read at most once a minute) if the function
    has one, else its environment's."""
    global _cached
    config = settings()
    if not config.big_rooms_parameter:
        return BigRooms(
            config.fanout_shard_threshold,
            config.fanout_shard_size,
            config.send_budget_per_second,
            config.bot_worker_max_concurrency,
        )
    with _lock:
        if _cached is None or time.monotonic() - _cached[0] > CACHE_SECONDS:
            _cached = (time.monotonic(), _read(config.big_rooms_parameter))
        return _cached[1]


def forget() -> None:
    """Read the parameter again on next use (tests)."""
    global _cached
    _cached = None


def _read(name: str) -> BigRooms:
    value = json.loads(aws.ssm().get_parameter(Name=name)["Parameter"]["Value"])
    return BigRooms(
        fanout_shard_threshold=max(1, int(value["fanout_shard_threshold"])),
        fanout_shard_size=max(1, int(value["fanout_shard_size"])),
        send_budget_per_second=max(1, int(value["send_budget_per_second"])),
        bot_worker_max_concurrency=max(1, int(value["bot_worker_max_concurrency"])),
    )
