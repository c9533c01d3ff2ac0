"""Registering, logging in, and who-am-I."""

from __future__ import annotations

from aws_lambda_powertools.metrics import MetricUnit

from chat.dal import users as user_table
from chat.dal.items import UserItem
from chat.dal.users import Credentials
from chat.errors import NotFound, RateLimited, Unauthorized
from chat.ids import new_id, now_iso
from chat.logic import rate_limits
from chat.logic.accounts.passwords import hash_password, verify_password
from chat.logic.accounts.tokens import issue_token
from chat.models import AuthResponse, LoginRequest, RegisterRequest, User
from chat.observability import logger, metrics
from chat.principal import Principal
from chat.text_rules import is_reserved_username


def authenticated(user: UserItem, generation: int = 0) -> AuthResponse:
    """The answer of a login: the user and a new token of their token `generation`."""
    token, lifetime = issue_token(user["user_id"], user["username"], generation)
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
    return authenticated(user)


def login(request: LoginRequest, source_ip: str | None = None) -> AuthResponse:
    """A token for the right pair; 401 otherwise, and 429 (whatever the password) while the
    username or the client address has too many recent failures."""
    password = request.password.get_secret_value()
    credentials = check_password(request.username, password, source_ip)
    return authenticated(credentials.user, credentials.token_generation)


def check_password(username: str, password: str, source_ip: str | None) -> Credentials:
    """The credentials of an open account whose password this is: an attempt to log in,
    and counted as one (a login, and a password change or deletion asking for the
    password). 401 otherwise, and 429 (whatever the password) while the username or the
    client address has too many recent failures.

    Each attempt is counted as a failure before its password is checked, and the count is
    taken back when the password was right: of any number of concurrent attempts, no more
    are checked than the limits leave room for."""
    throttles = [(rate_limits.LOGIN_FAILURES_PER_USERNAME, username.casefold())]
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
    found = None if is_reserved_username(username) else user_table.get_credentials(username)
    # Always run bcrypt, so an unknown user costs what a wrong password costs.
    if not verify_password(password, found.password_hash if found else None) or found is None:
        metrics.add_metric(name="LoginsFailed", unit=MetricUnit.Count, value=1)
        raise Unauthorized("Invalid username or password")
    for reservation in reserved:
        rate_limits.release(reservation)
    return found


def me(principal: Principal) -> User:
    user = user_table.get_user(principal.user_id)
    if user is None:
        raise NotFound("User not found")
    return User(**user)
