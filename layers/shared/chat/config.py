"""The environment a function runs with, validated once per container.

Every variable the template gives all functions is required: a missing one fails loudly at
cold start instead of turning into a silent default. Variables only some functions get are
optional here and checked where they are used (`Settings.require`).
"""

from __future__ import annotations

from functools import cache

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(extra="ignore", frozen=True)

    users_table: str
    rooms_table: str
    memberships_table: str
    messages_table: str
    connections_table: str
    rate_limits_table: str
    jwt_secret_arn: str
    token_ttl_seconds: int = Field(ge=60)
    default_bot_model: str
    websocket_management_url: str
    cors_allow_origin: str = "*"

    # Only some functions get these (see template.yaml).
    bcrypt_cost: int = Field(default=12, ge=4, le=16)
    gemini_keys_kms_key_id: str | None = None
    bot_queue_url: str | None = None
    bot_user_commands_per_minute: int = Field(default=10, ge=1)
    bot_room_commands_per_minute: int = Field(default=30, ge=1)
    bot_user_total_commands_per_minute: int = Field(default=20, ge=1)
    login_failures_per_username: int = Field(default=10, ge=1)
    login_failures_per_address: int = Field(default=100, ge=1)
    room_creations_per_user_per_hour: int = Field(default=30, ge=1)
    idempotency_table: str | None = None
    shared_gemini_key_secret_arn: str | None = None
    gemini_base_url: str | None = None

    def require(self, name: str) -> str:
        value = getattr(self, name)
        if not value:
            raise RuntimeError(f"{name.upper()} is not set for this function")
        return value


@cache
def settings() -> Settings:
    return Settings()  # type: ignore[call-arg]  # values come from the environment
