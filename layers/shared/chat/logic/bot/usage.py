"""What the bots of a room use: each answer's tokens as the model reported them, counted
per bot and UTC month (chat.dal.bot_usage), the month's report (`GET /rooms/{id}/usage`),
and the monthly token budget, checked before the model is called.

An answer is counted in the month its reply was created, when it ends (complete, stopped
or failed), if the model reported any usage for it. The budget is checked before each
answer: the answer that crosses it completes, the next one is refused (`budget_exceeded`).
One answer runs at a time per room (the queue's group), so the check and the count cannot
race within a room.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from chat.dal import bot_usage
from chat.dal.items import BotUsageCounts
from chat.dal.rooms import get_room
from chat.ids import now_iso
from chat.logic.access import require_member
from chat.logic.bot import roster
from chat.models import BOT_USERNAME, BotUsage, UsageReport
from chat.principal import Principal

BUDGET_EXCEEDED = (
    "This bot has used its monthly token budget. The room's owner can raise it in the bot settings."
)


@dataclass
class Tokens:
    """The tokens of one answer, every model request of it summed; ``reported``: the model
    reported any (an answer it never answered is not counted)."""

    input: int = 0
    output: int = 0
    reported: bool = False

    def add(self, input_tokens: int, output_tokens: int) -> None:
        self.input += input_tokens
        self.output += output_tokens
        self.reported = True


def month_of(iso_time: str) -> str:
    """`YYYY-MM` of an ISO 8601 UTC time."""
    return iso_time[:7]


def charge(room_id: str, bot: str, created_at: str, tokens: Tokens) -> dict[str, Any] | None:
    """The write that counts an answer (created at ``created_at``) of ``bot``: made with
    the answer's end, or None when there is nothing to count."""
    if not tokens.reported:
        return None
    return bot_usage.charge(room_id, month_of(created_at), bot, tokens.input, tokens.output)


def used(room_id: str, bot: str, month: str) -> int:
    """Input plus output tokens of ``bot`` in the room in ``month``."""
    counts = bot_usage.month_usage(room_id, month).get(bot)
    return counts["input"] + counts["output"] if counts else 0


def over_budget(room_id: str, bot: str, budget: int | None, at: str) -> bool:
    """Whether ``bot`` has used its monthly ``budget`` (None: unlimited) in the month of ``at``."""
    return budget is not None and used(room_id, bot, month_of(at)) >= budget


def room_bots(room_id: str) -> list[str]:
    """The names of the room's bots, the default bot first."""
    room = get_room(room_id)
    return [bot.name for bot in roster.profiles(room)] if room else [BOT_USERNAME]


def usage_report(principal: Principal, room_id: str, month: str | None) -> UsageReport:
    """`GET /rooms/{id}/usage`: each bot of the room (and any removed bot that answered that
    month), the default first, with its answers and tokens in ``month`` (default: now)."""
    require_member(room_id, principal.user_id)
    month = month or month_of(now_iso())
    counted = bot_usage.month_usage(room_id, month)
    names = room_bots(room_id)
    names += sorted(set(counted) - set(names))
    zero = BotUsageCounts(answers=0, input=0, output=0)
    return UsageReport(
        month=month,
        bots=[_bot_usage(name, counted.get(name, zero)) for name in names],
    )


def _bot_usage(name: str, counts: BotUsageCounts) -> BotUsage:
    return BotUsage(
        name=name,
        answers=counts["answers"],
        input_tokens=counts["input"],
        output_tokens=counts["output"],
    )
