"""Room join codes: drawn at random, read aloud and typed by people."""

from __future__ import annotations

import secrets

# No 0/O, 1/I/L or U: codes are read aloud and typed by people. 30^12 ≈ 2^59 codes.
_CODE_ALPHABET = "23456789ABCDEFGHJKMNPQRSTVWXYZ"
_CODE_GROUPS, _CODE_GROUP_LENGTH = 3, 4


def new_join_code() -> str:
    groups = (
        "".join(secrets.choice(_CODE_ALPHABET) for _ in range(_CODE_GROUP_LENGTH))
        for _ in range(_CODE_GROUPS)
    )
    return "-".join(groups)


def normalise_code(code: str) -> str:
    """What people type (any case, with or without dashes/spaces) as the stored code."""
    raw = "".join(ch for ch in code.upper() if ch.isalnum())
    size = _CODE_GROUP_LENGTH
    return "-".join(raw[i : i + size] for i in range(0, len(raw), size))
