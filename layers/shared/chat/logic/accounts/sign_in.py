"""Registering, logging in, and who-am-I."""

from __future__ import annotations

from aws_lambda_powertools.metrics import MetricUnit

from chat.dal import users as user_table
from chat.dal.items import UserItem
from chat.errors import NotFound, RateLimited, Unauthorized
from chat.ids import new_id, now_iso
from chat.logic import rate_limits
from chat.logic.accounts.passwords import hash_password, verify_password
from chat.logic.accounts.tokens import issue_token
from chat.models import AuthResponse, LoginRequest, RegisterRequest, User
from chat.observability import logger, metrics
from chat.principal import Principal
from chat.text_rules import is_reserved_username


def _authenticated(user: UserItem) -> AuthResponse:
    token, lifetime = issue_token(user["user_id"], user["username"])
    return AuthResponse(user=User(**user), access_token=token, expires_in=lifetime)


def register(request: RegisterRequest, source_ip: str | None = None) -> AuthResponse:
    """A new account; 429 once the client address registered too many this hour (each
    registration costs a bcrypt hash: a flood of them would take the function's capacity)."""
    if source_ip:
        rate_limits.hit(rate_limits.REGISTRATIONS_PER_ADDRESS, source_ip)
    user = UserItem(
        user_id=new_id(),
        username=request.username,
        email=str(request.email) if request.email else None,
        created_at=now_iso(),
    )
    user_table.create_user(user, hash_password(request.password.get_secret_value()))
    metrics.add_metric(name="UsersRegistered", unit=MetricUnit.Count, value=1)
    logger.info("user registered", extra={"user_id": user["user_id"]})
    return _authenticated(user)


def login(request: LoginRequest, source_ip: str | None = None) -> AuthResponse:
    """A token for the right pair; 401 otherwise, and 429 (whatever the password) while the
    username or the client address has too many recent failures.

    Each attempt is counted as a failure before its password is checked, and the count is
    taken back when the password was right: of any number of concurrent attempts, no more
    are checked than the limits leave room for."""
    throttles = [(rate_limits.LOGIN_FAILURES_PER_USERNAME, request.username.casefold())]
    if source_ip:
        throttles.append((rate_limits.LOGIN_FAILURES_PER_ADDRESS, source_ip))
    reserved: list[rate_limits.Reservation] = []
    try:
        for policy, key in throttles:
            reserved.append(rate_limits.reserve(policy, key))
    except RateLimited:
        for reservation in reserved:
            rate_limits.release(reservation)
        raise
    reserved_name = is_reserved_username(request.username)
    found = None if reserved_name else user_table.get_credentials(request.username)
    user, password_hash = found or (None, None)
    # Always run bcrypt, so an unknown user costs what a wrong password costs.
    if not verify_password(request.password.get_secret_value(), password_hash) or user is None:
        metrics.add_metric(name="LoginsFailed", unit=MetricUnit.Count, value=1)
        raise Unauthorized("Invalid username or password")
    for reservation in reserved:
        rate_limits.release(reservation)
    return _authenticated(user)


def me(principal: Principal) -> User:
    user = user_table.get_user(principal.user_id)
    if user is None:
        raise NotFound("User not found")
    return User(**user)
