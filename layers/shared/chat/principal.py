"""Who is calling: the user a verified access token names (chat.logic.accounts.tokens)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Principal:
    """The caller. `token_expires_at` (epoch seconds) is when their token stops being valid:
    a WebSocket connection lives on past its handshake. `token_id` (the token's `jti`) and
    `token_generation` (the user's token generation when it was issued) are what a logout
    and a password change revoke (chat.logic.accounts.revocation)."""

    user_id: str
    username: str
    token_expires_at: int | None = None
    token_id: str | None = None
    token_generation: int = 0
