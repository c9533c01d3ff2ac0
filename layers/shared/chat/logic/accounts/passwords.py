"""Passwords: bcrypt over a SHA-256 prehash, and a login that costs the same for unknown users."""

from __future__ import annotations

import base64
import hashlib
from functools import cache

import bcrypt

from chat.config import settings


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
