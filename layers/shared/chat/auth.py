"""Passwords (bcrypt) and access tokens (HS256 JWT signed with a key from Secrets Manager)."""

from __future__ import annotations

import base64
import hashlib
import time
from dataclasses import dataclass
from functools import cache

import bcrypt
import jwt

from chat.adapters import secrets
from chat.config import settings
from chat.errors import Unauthorized
from chat.models import BOT_USER_ID

_ALGORITHM = "HS256"


@dataclass(frozen=True)
class Principal:
    """Who is calling: taken from a verified token."""

    user_id: str
    username: str


# ------------------------------------------------------------------------------ passwords
def _prehash(password: str) -> bytes:
    # bcrypt only reads 72 bytes (and bcrypt 5 refuses more). Hashing first keeps every
    # character significant for long or multi-byte passwords; base64 avoids NUL bytes.
    return base64.b64encode(hashlib.sha256(password.encode("utf-8")).digest())


def hash_password(password: str) -> str:
    salt = bcrypt.gensalt(rounds=settings().bcrypt_cost)
    return bcrypt.hashpw(_prehash(password), salt).decode("ascii")


@cache
def _dummy_hash() -> bytes:
    return hash_password("not a real password: equalises login timing").encode("ascii")


def verify_password(password: str, password_hash: str | None) -> bool:
    """Check a password; with no hash (unknown user) spend the same time and fail."""
    if password_hash is None:
        bcrypt.checkpw(_prehash(password), _dummy_hash())
        return False
    return bcrypt.checkpw(_prehash(password), password_hash.encode("ascii"))


# ------------------------------------------------------------------------------ tokens
def issue_token(user_id: str, username: str) -> tuple[str, int]:
    """A signed access token and its lifetime in seconds."""
    lifetime = settings().token_ttl_seconds
    now = int(time.time())
    claims = {"sub": user_id, "username": username, "iat": now, "exp": now + lifetime}
    return jwt.encode(claims, secrets.jwt_signing_key(), algorithm=_ALGORITHM), lifetime


def verify_token(token: str | None) -> Principal:
    """The principal of a valid token; Unauthorized for anything else."""
    if not token:
        raise Unauthorized("Missing access token")
    if not token.isascii() or not token.isprintable():  # a JWT is printable ASCII
        raise Unauthorized("Invalid access token")
    try:
        claims = jwt.decode(
            token,
            secrets.jwt_signing_key(),
            algorithms=[_ALGORITHM],
            options={"require": ["sub", "iat", "exp"]},
        )
    except jwt.ExpiredSignatureError as exc:
        raise Unauthorized("Access token expired") from exc
    except (jwt.PyJWTError, ValueError, TypeError) as exc:  # any token that is not ours
        raise Unauthorized("Invalid access token") from exc
    user_id, username = claims.get("sub"), claims.get("username")
    # The bot acts only through the worker; no token may speak for it.
    if not isinstance(user_id, str) or not isinstance(username, str) or user_id == BOT_USER_ID:
        raise Unauthorized("Invalid access token")
    return Principal(user_id=user_id, username=username)


def bearer_token(authorization: str | None) -> str | None:
    """The token of an `Authorization: Bearer <token>` header value."""
    if not authorization:
        return None
    scheme, _, token = authorization.strip().partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()
