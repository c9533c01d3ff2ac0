"""A room's bots and their settings: the default bot's (`GET`/`PUT …/bot`), and the named
bots the owner adds, changes and removes (`…/bots`). Every bot has the same settings (its
model, system prompt, Gemini key, tools, monthly token budget, whether it answers replies);
only the owner may change them. A named bot's name shares the username namespace
(chat.dal.bots).

``settings_changes`` works on any bot's stored settings (chat.dal.items.BotSettingsFields):
the default bot keeps them on its room's item, a named bot in its entry of the room's
`bots`."""

from __future__ import annotations

from chat.adapters.gemini_keys import encrypt_api_key
from chat.dal import bots as bot_table
from chat.dal import rooms as room_table
from chat.dal.items import BotEntry, MembershipItem
from chat.dal.rooms import BotSettingsChanges, Removable
from chat.errors import Conflict, NotFound
from chat.ids import now_iso
from chat.logic.access import require_member, require_owner, room_or_404
from chat.logic.bot import roster
from chat.models import (
    BOT_USERNAME,
    MAX_BOTS_PER_ROOM,
    Bot,
    BotList,
    BotSettings,
    BotSettingsUpdate,
    CreateBotRequest,
    bot_user_id,
)
from chat.principal import Principal


def get_bot_settings(principal: Principal, room_id: str) -> BotSettings:
    require_member(room_id, principal.user_id)
    return roster.default_bot(room_or_404(room_id)).settings_view()


def settings_changes(
    room_id: str, update: BotSettingsUpdate, bot: str | None = None
) -> tuple[BotSettingsChanges, list[Removable]]:
    """The attributes an update sets and removes (absent fields stay as they are). The key
    is encrypted for ``room_id`` and, for a named bot, for its name ``bot``."""
    changes = BotSettingsChanges()
    removed: list[Removable] = []
    given = update.model_fields_set
    if "gemini_api_key" in given:
        if update.gemini_api_key:
            key = update.gemini_api_key.get_secret_value()
            changes["api_key_ciphertext"] = encrypt_api_key(room_id, key, bot)
        else:
            removed.append("api_key_ciphertext")
    if "model" in given and update.model:  # a model is changed, never removed
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
    if "answers_replies" in given:
        if update.answers_replies:
            changes["answers_replies"] = True
        else:
            removed.append("answers_replies")
    return changes, removed


def update_bot_settings(
    principal: Principal, room_id: str, update: BotSettingsUpdate
) -> BotSettings:
    room = require_owner(room_id, principal.user_id, "change the bot's settings")
    changes, removed = settings_changes(room_id, update)
    if changes or removed:
        room = room_table.update_room(room_id, changes, removed)
    return roster.default_bot(room).settings_view()


# ------------------------------------------------------------------------------ named bots
def list_bots(principal: Principal, room_id: str) -> BotList:
    require_member(room_id, principal.user_id)
    return BotList(bots=[bot.view() for bot in roster.profiles(room_or_404(room_id))])


def create_bot(principal: Principal, room_id: str, request: CreateBotRequest) -> Bot:
    """Add a named bot (owner only); 409 when its name is anybody's, user or bot, or the
    room has all the bots it may have."""
    require_owner(room_id, principal.user_id, "add bots")
    name = request.name
    changes, _ = settings_changes(room_id, request, name)
    created_at = now_iso()
    entry = BotEntry(name=name, created_at=created_at, **changes)
    member = MembershipItem(
        room_id=room_id, user_id=bot_user_id(name), username=name, role="bot", joined_at=created_at
    )
    added = bot_table.add_bot(room_id, entry, member, MAX_BOTS_PER_ROOM - 1)
    if added == "name_taken":
        raise Conflict("This name is already taken")
    if added == "full":
        raise Conflict(f"A room holds at most {MAX_BOTS_PER_ROOM} bots")
    if added == "no_room":
        raise NotFound("Room not found")
    return roster.BotProfile(name, entry, is_default=False).view()


def update_bot(principal: Principal, room_id: str, name: str, update: BotSettingsUpdate) -> Bot:
    """Change a bot's settings (owner only); `bot` is the default bot."""
    if name.lower() == BOT_USERNAME:
        settings = update_bot_settings(principal, room_id, update)
        return Bot(name=BOT_USERNAME, **settings.model_dump())
    room = require_owner(room_id, principal.user_id, "change bots")
    bot = roster.find(room, name)
    if bot is None:
        raise NotFound("Bot not found")
    changes, removed = settings_changes(room_id, update, bot.key)
    found = bot_table.update_bot(room_id, bot.key, dict(changes), list(removed))
    bot = roster.find(found, name) if found is not None else None
    if bot is None:
        raise NotFound("Bot not found")
    return bot.view()


def remove_bot(principal: Principal, room_id: str, name: str) -> None:
    """Remove a named bot (owner only); the default bot cannot be removed (409)."""
    if name.lower() == BOT_USERNAME:
        require_owner(room_id, principal.user_id, "remove bots")
        raise Conflict("The default bot cannot be removed")
    room = require_owner(room_id, principal.user_id, "remove bots")
    bot = roster.find(room, name)
    if bot is None or not bot_table.remove_bot(room_id, bot.key, bot_user_id(bot.key)):
        raise NotFound("Bot not found")
