"""Access tokens: HS256 JWTs signed with a key from Secrets Manager, each naming its caller
(a `Principal`), with an id of its own (`jti`, what a logout revokes) and the user's token
generation when it was issued (`gen`: a password change or a deletion revokes every token
of an earlier one). Whether a token was revoked is chat.logic.accounts.revocation's."""

from __future__ import annotations

import secrets
import time

import jwt

from chat.adapters.jwt_key import jwt_signing_key
from chat.config import settings
from chat.errors import Unauthorized
from chat.models import is_bot_user_id
from chat.principal import Principal

_ALGORITHM = "HS256"


def token_lifetime() -> int:
    """How long an access token lives (seconds): the longest a revocation must be kept."""
    lifetime = settings().token_ttl_seconds
    if lifetime is None:  # the functions that issue or revoke tokens require it
        raise RuntimeError("TOKEN_TTL_SECONDS is not set for this function")
    return lifetime


def issue_token(user_id: str, username: str, generation: int = 0) -> tuple[str, int]:
    """A signed access token of the user's token `generation`, and its lifetime in seconds."""
    lifetime = token_lifetime()
    now = int(time.time())
    claims = {
        "sub": user_id,
        "username": username,
        "iat": now,
        "exp": now + lifetime,
        "jti": secrets.token_urlsafe(16),
        "gen": generation,
    }
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
            options={"require": ["sub", "iat", "exp", "jti"]},
        )
    except jwt.ExpiredSignatureError as exc:
        raise Unauthorized("Access token expired") from exc
    except (jwt.PyJWTError, ValueError, TypeError) as exc:  # any token that is not ours
        raise Unauthorized("Invalid access token") from exc
    user_id, username = claims.get("sub"), claims.get("username")
    token_id, generation = claims.get("jti"), claims.get("gen", 0)
    # The bot acts only through the worker; no token may speak for it.
    if not isinstance(user_id, str) or not isinstance(username, str) or is_bot_user_id(user_id):
        raise Unauthorized("Invalid access token")
    if not isinstance(token_id, str) or not token_id or type(generation) is not int:
        raise Unauthorized("Invalid access token")
    return Principal(
        user_id=user_id,
        username=username,
        token_expires_at=int(claims["exp"]),
        token_id=token_id,
        token_generation=generation,
    )
