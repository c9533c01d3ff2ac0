"""A room's bot settings: its model, system prompt and Gemini key (owner only to change)."""

from __future__ import annotations

from chat.adapters.gemini_keys import encrypt_api_key
from chat.config import settings
from chat.dal import rooms as room_table
from chat.dal.items import RoomItem
from chat.dal.rooms import Removable, RoomChanges
from chat.logic.access import require_member, require_owner, room_or_404
from chat.models import BotSettings, BotSettingsUpdate
from chat.principal import Principal


def _bot_settings(room: RoomItem) -> BotSettings:
    return BotSettings(
        model=room.get("model") or settings().default_bot_model,
        system_prompt=room.get("system_prompt"),
        has_api_key=room.get("api_key_ciphertext") is not None,
    )


def get_bot_settings(principal: Principal, room_id: str) -> BotSettings:
    require_member(room_id, principal.user_id)
    return _bot_settings(room_or_404(room_id))


def _changes(room_id: str, update: BotSettingsUpdate) -> tuple[RoomChanges, list[Removable]]:
    """The attributes an update sets and removes (absent fields stay as they are)."""
    changes = RoomChanges()
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
    return changes, removed


def update_bot_settings(
    principal: Principal, room_id: str, update: BotSettingsUpdate
) -> BotSettings:
    room = require_owner(room_id, principal.user_id, "change the bot's settings")
    changes, removed = _changes(room_id, update)
    if changes or removed:
        room = room_table.update_room(room_id, changes, removed)
    return _bot_settings(room)
