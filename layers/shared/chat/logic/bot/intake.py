"""The rate limits a bot command counts against (chat.logic.rate_limits): per user and room,
per user across rooms, per room. A new command and a regeneration count alike."""

from __future__ import annotations

from chat.logic import rate_limits
from chat.principal import Principal


def check_bot_limits(principal: Principal, room_id: str) -> None:
    """Count one bot command; RateLimited when any of its limits is used up."""
    rate_limits.hit(rate_limits.BOT_COMMANDS_PER_USER_AND_ROOM, principal.user_id, room_id)
    rate_limits.hit(rate_limits.BOT_COMMANDS_PER_USER, principal.user_id)
    rate_limits.hit(rate_limits.BOT_COMMANDS_PER_ROOM, room_id)
