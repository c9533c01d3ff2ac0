"""The limits that protect the service and its Gemini spend (docs/API.md, limits): each a
sliding window (chat.dal.rate_limits) whose size is a template parameter (chat.config).

| policy | counted per | window | setting (template parameter) |
|---|---|---|---|
| failed logins | username (case-folded) | 15 min | LoginFailuresPerUsername |
| failed logins | client address | 15 min | LoginFailuresPerAddress |
| registrations | client address | 1 h | RegistrationsPerAddressPerHour |
| room creations | user | 1 h | RoomCreationsPerUserPerHour |
| bot commands | user, across rooms | 1 min | BotUserTotalCommandsPerMinute |
| bot commands | user and room | 1 min | BotUserCommandsPerMinute |
| bot commands | room | 1 min | BotRoomCommandsPerMinute |

Failed logins are reserved before the password is checked (``reserve``) and released when it
was right, so a burst of concurrent attempts gets no more passwords checked than the limit.
A refused request is a ``RateLimited`` (429 with ``Retry-After``, or an `error` frame).
"""

from __future__ import annotations

from dataclasses import dataclass

from aws_lambda_powertools.metrics import MetricUnit

from chat.config import settings
from chat.dal import rate_limits as store
from chat.dal.rate_limits import Reservation
from chat.errors import RateLimited
from chat.observability import metrics


@dataclass(frozen=True)
class Policy:
    key: str  # prefix of the counter's key
    setting: str  # the Settings field holding the limit
    window_seconds: int
    refusal: str  # "Too many <refusal>"
    metric: str

    @property
    def limit(self) -> int:
        return getattr(settings(), self.setting)


LOGIN_FAILURES_PER_USERNAME = Policy(
    "login#user", "login_failures_per_username", 900, "failed logins", "LoginsThrottled"
)
LOGIN_FAILURES_PER_ADDRESS = Policy(
    "login#addr", "login_failures_per_address", 900, "failed logins", "LoginsThrottled"
)
REGISTRATIONS_PER_ADDRESS = Policy(
    "register#addr",
    "registrations_per_address_per_hour",
    3600,
    "registrations from this address",
    "RegistrationsLimited",
)
ROOM_CREATIONS = Policy(
    "rooms#user", "room_creations_per_user_per_hour", 3600, "new rooms", "RoomCreationsLimited"
)
BOT_COMMANDS_PER_USER = Policy(
    "bot#user",
    "bot_user_total_commands_per_minute",
    60,
    "bot commands from you",
    "BotCommandsRateLimited",
)
BOT_COMMANDS_PER_USER_AND_ROOM = Policy(
    "bot#user-room",
    "bot_user_commands_per_minute",
    60,
    "bot commands from you in this room",
    "BotCommandsRateLimited",
)
BOT_COMMANDS_PER_ROOM = Policy(
    "bot#room",
    "bot_room_commands_per_minute",
    60,
    "bot commands in this room",
    "BotCommandsRateLimited",
)


def _key(policy: Policy, parts: tuple[str, ...]) -> str:
    return "#".join((policy.key, *parts))


def _refuse(policy: Policy, retry_after: int) -> RateLimited:
    metrics.add_metric(name=policy.metric, unit=MetricUnit.Count, value=1)
    return RateLimited(
        f"Too many {policy.refusal}, try again in {retry_after}s", retry_after=retry_after
    )


def hit(policy: Policy, *parts: str) -> None:
    """Count one use; RateLimited when it is over the policy's limit."""
    retry_after = store.hit(_key(policy, parts), policy.limit, policy.window_seconds)
    if retry_after is not None:
        raise _refuse(policy, retry_after)


def reserve(policy: Policy, *parts: str) -> Reservation:
    """Count one use before it happens (a login attempt before its password is checked);
    RateLimited when it does not fit. Concurrent callers cannot get more uses through than
    the limit; ``release`` takes back a use that turns out not to count."""
    taken = store.reserve(_key(policy, parts), policy.limit, policy.window_seconds)
    if not isinstance(taken, Reservation):
        raise _refuse(policy, taken)
    return taken


def release(reservation: Reservation) -> None:
    store.release(reservation)
