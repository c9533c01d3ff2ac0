"""The environment a function runs with, validated once per container, at cold start.

Every variable the template gives all functions is required. Variables only some functions
get are optional here; each function names the ones it needs with `require_settings(...)`
at import of its handler module, so a missing variable fails the init, not a request.
"""

from __future__ import annotations

import os
from functools import cache
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

Table = Literal[
    "users",
    "rooms",
    "memberships",
    "messages",
    "connections",
    "rate_limits",
    "attachments",
    "search_index",
    "client_ids",
]
FunctionSetting = Literal[
    "token_ttl_seconds",
    "cors_allow_origin",
    "gemini_keys_kms_key_id",
    "bot_queue_url",
    "idempotency_table",
    "attachments_table",
    "attachments_bucket",
    "search_index_table",
    "client_ids_table",
    "account_erasure_queue_url",
]


class Settings(BaseModel):
    """Each field from the variable of its name in capitals (`from_environment`)."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    users_table: str
    rooms_table: str
    memberships_table: str
    messages_table: str
    connections_table: str
    rate_limits_table: str
    jwt_secret_arn: str
    default_bot_model: str
    websocket_management_url: str

    # Only some functions get these (see template.yaml and functions/*/app.py).
    token_ttl_seconds: int | None = Field(default=None, ge=60)  # the one issuing tokens
    cors_allow_origin: str | None = None  # the REST functions
    bcrypt_cost: int = Field(default=12, ge=4, le=16)
    gemini_keys_kms_key_id: str | None = None
    bot_queue_url: str | None = None
    bot_user_commands_per_minute: int = Field(default=10, ge=1)
    bot_room_commands_per_minute: int = Field(default=30, ge=1)
    bot_user_total_commands_per_minute: int = Field(default=20, ge=1)
    login_failures_per_username: int = Field(default=10, ge=1)
    login_failures_per_address: int = Field(default=100, ge=1)
    registrations_per_address_per_hour: int = Field(default=20, ge=1)
    room_creations_per_user_per_hour: int = Field(default=30, ge=1)
    idempotency_table: str | None = None
    shared_gemini_key_secret_arn: str | None = None
    gemini_base_url: str | None = None
    attachments_table: str | None = None
    attachments_bucket: str | None = None
    search_index_table: str | None = None
    client_ids_table: str | None = None
    account_erasure_queue_url: str | None = None  # the functions that close accounts

    def table_name(self, table: Table) -> str:
        """The DynamoDB table name of a logical table."""
        names: dict[Table, str | None] = {
            "users": self.users_table,
            "rooms": self.rooms_table,
            "memberships": self.memberships_table,
            "messages": self.messages_table,
            "connections": self.connections_table,
            "rate_limits": self.rate_limits_table,
            # Only the functions that attach files get this one (require_settings).
            "attachments": self.attachments_table,
            # the search and indexer functions, and the worker (the room_search tool)
            "search_index": self.search_index_table,
            "client_ids": self.client_ids_table,  # the functions that store messages
        }
        name = names[table]
        if not name:
            raise RuntimeError(f"{table.upper()}_TABLE is not set for this function")
        return name

    @classmethod
    def from_environment(cls) -> Settings:
        """The settings from os.environ (a plain model, not pydantic-settings, whose import
        every handler paid at cold start); a missing or invalid variable raises."""
        names = {name.upper(): name for name in cls.model_fields}
        return cls.model_validate(
            {names[key]: value for key, value in os.environ.items() if key in names}
        )


@cache
def settings() -> Settings:
    return Settings.from_environment()


def require_settings(*needed: FunctionSetting) -> Settings:
    """Validate the settings at cold start: the common ones and those a function needs.

    Called at import of each function's handler module; raises (failing the init) when a
    variable is missing or invalid.
    """
    current = settings()
    missing = [name.upper() for name in needed if not getattr(current, name)]
    if missing:
        raise RuntimeError(f"Missing environment variable(s) for this function: {missing}")
    return current
