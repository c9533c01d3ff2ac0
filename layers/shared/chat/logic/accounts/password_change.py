"""Changing a password: the current one is asked for (a wrong one counts as a failed login),
the new one hashed at the current bcrypt cost, and every earlier token of the user revoked
(its sockets closed); the answer carries a new token."""

from __future__ import annotations

from aws_lambda_powertools.metrics import MetricUnit

from chat.dal import users as user_table
from chat.errors import Conflict
from chat.logic.accounts import revocation, sign_in
from chat.logic.accounts.passwords import hash_password
from chat.models import AuthResponse, ChangePasswordRequest
from chat.observability import logger, metrics
from chat.principal import Principal


def change_password(
    principal: Principal, request: ChangePasswordRequest, source_ip: str | None = None
) -> AuthResponse:
    current = request.current_password.get_secret_value()
    credentials = sign_in.check_password(principal.username, current, source_ip)
    password_hash = hash_password(request.new_password.get_secret_value())
    generation = user_table.replace_password(credentials, password_hash)
    if generation is None:
        raise Conflict("The account changed meanwhile; try again")
    revocation.revoke_earlier_tokens(principal.user_id, generation)
    metrics.add_metric(name="PasswordsChanged", unit=MetricUnit.Count, value=1)
    logger.info("password changed", extra={"user_id": principal.user_id})
    return sign_in.authenticated(credentials.user, generation)
