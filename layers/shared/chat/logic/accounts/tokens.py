"""Access tokens: HS256 JWTs signed with a key from Secrets Manager, each naming its caller
(a `Principal`)."""

from __future__ import annotations

import time

import jwt

from chat.adapters.jwt_key import jwt_signing_key
from chat.config import settings
from chat.errors import Unauthorized
from chat.models import is_bot_user_id
from chat.principal import Principal

_ALGORITHM = "HS256"


def issue_token(user_id: str, username: str) -> tuple[str, int]:
    """A signed access token and its lifetime in seconds."""
    lifetime = settings().token_ttl_seconds
    if lifetime is None:  # the function that issues tokens requires it (require_settings)
        raise RuntimeError("TOKEN_TTL_SECONDS is not set for this function")
    now = int(time.time())
    claims = {"sub": user_id, "username": username, "iat": now, "exp": now + lifetime}
    return jwt.encode(claims, jwt_signing_key(), algorithm=_ALGORITHM), lifetime


def verify_token(token: str | None) -> Principal:
    """The principal of a valid token; Unauthorized for anything else."""
    if not token:
        raise Unauthorized("Missing access token")
    if not token.isascii() or not token.isprintable():  # a JWT is printable ASCII
        raise Unauthorized("Invalid access token")
    try:
        claims = jwt.decode(
            token,
            jwt_signing_key(),
            algorithms=[_ALGORITHM],
            options={"require": ["sub", "iat", "exp"]},
        )
    except jwt.ExpiredSignatureError as exc:
        raise Unauthorized("Access token expired") from exc
    except (jwt.PyJWTError, ValueError, TypeError) as exc:  # any token that is not ours
        raise Unauthorized("Invalid access token") from exc
    user_id, username = claims.get("sub"), claims.get("username")
    # The bot acts only through the worker; no token may speak for it.
    if not isinstance(user_id, str) or not isinstance(username, str) or is_bot_user_id(user_id):
        raise Unauthorized("Invalid access token")
    return Principal(user_id=user_id, username=username, token_expires_at=int(claims["exp"]))
