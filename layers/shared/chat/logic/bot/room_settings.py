"""A room's bot settings: its model, system prompt, Gemini key, tools and monthly token
budget (owner only to change).

``settings_of`` and ``settings_changes`` work on any bot's stored settings
(chat.dal.items.BotSettingsFields): the default bot keeps them on its room's item."""

from __future__ import annotations

from chat.adapters.gemini_keys import encrypt_api_key
from chat.config import settings
from chat.dal import rooms as room_table
from chat.dal.items import BotSettingsFields
from chat.dal.rooms import BotSettingsChanges, Removable
from chat.logic.access import require_member, require_owner, room_or_404
from chat.models import BotSettings, BotSettingsUpdate, Tool
from chat.principal import Principal


def tools_of(stored: BotSettingsFields) -> list[Tool]:
    return list(stored.get("tools") or [])


def budget_of(stored: BotSettingsFields) -> int | None:
    """The bot's monthly token budget; None: unlimited."""
    budget = stored.get("monthly_token_budget")
    return None if budget is None else int(budget)


def settings_of(stored: BotSettingsFields) -> BotSettings:
    return BotSettings(
        model=stored.get("model") or settings().default_bot_model,
        system_prompt=stored.get("system_prompt"),
        has_api_key=stored.get("api_key_ciphertext") is not None,
        tools=tools_of(stored),
        monthly_token_budget=budget_of(stored),
    )


def get_bot_settings(principal: Principal, room_id: str) -> BotSettings:
    require_member(room_id, principal.user_id)
    return settings_of(room_or_404(room_id))


def settings_changes(
    room_id: str, update: BotSettingsUpdate
) -> tuple[BotSettingsChanges, list[Removable]]:
    """The attributes an update sets and removes (absent fields stay as they are). The key
    is encrypted for ``room_id`` (the room whose bots may use it)."""
    changes = BotSettingsChanges()
    removed: list[Removable] = []
    given = update.model_fields_set
    if "gemini_api_key" in given:
        if update.gemini_api_key:
            changes["api_key_ciphertext"] = encrypt_api_key(
                room_id, update.gemini_api_key.get_secret_value()
            )
        else:
            removed.append("api_key_ciphertext")
    if "model" in given and update.model:
        changes["model"] = update.model
    if "system_prompt" in given:
        if update.system_prompt and update.system_prompt.strip():
            changes["system_prompt"] = update.system_prompt
        else:
            removed.append("system_prompt")
    if "tools" in given:
        if update.tools:
            changes["tools"] = list(update.tools)
        else:
            removed.append("tools")
    if "monthly_token_budget" in given:
        if update.monthly_token_budget is None:
            removed.append("monthly_token_budget")
        else:
            changes["monthly_token_budget"] = update.monthly_token_budget
    return changes, removed


def update_bot_settings(
    principal: Principal, room_id: str, update: BotSettingsUpdate
) -> BotSettings:
    room = require_owner(room_id, principal.user_id, "change the bot's settings")
    changes, removed = settings_changes(room_id, update)
    if changes or removed:
        room = room_table.update_room(room_id, changes, removed)
    return settings_of(room)
