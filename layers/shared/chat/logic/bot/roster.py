"""A room's bots, in one shape: the default bot (`bot`, its settings on the room item) and
the named ones (the room item's `bots` map), each a `BotProfile`; and which of them a
message addresses. Pure: the room item in, profiles out."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, cast

from chat.config import settings
from chat.dal.items import BotSettingsFields, MessageItem, RoomItem
from chat.models import BOT_USERNAME, Bot, BotSettings, Tool, addressed_name


@dataclass(frozen=True)
class BotProfile:
    name: str  # as the owner wrote it (`bot` for the default bot)
    config: BotSettingsFields  # its stored settings
    is_default: bool

    @property
    def key(self) -> str:
        """The name in lower case: how the room's `bots` map and commands name it."""
        return self.name.lower()

    @property
    def model(self) -> str:
        return self.config.get("model") or settings().default_bot_model

    @property
    def own_model(self) -> bool:
        return bool(self.config.get("model"))

    @property
    def system_prompt(self) -> str | None:
        return self.config.get("system_prompt")

    @property
    def answers_replies(self) -> bool:
        return bool(self.config.get("answers_replies"))

    @property
    def has_api_key(self) -> bool:
        return self.config.get("api_key_ciphertext") is not None

    @property
    def tools(self) -> list[Tool]:
        return list(self.config.get("tools") or [])

    @property
    def monthly_token_budget(self) -> int | None:
        """The bot's monthly token budget; None: unlimited."""
        budget = self.config.get("monthly_token_budget")
        return None if budget is None else int(budget)

    def settings_view(self) -> BotSettings:
        return BotSettings.model_validate(self._view_fields())

    def view(self) -> Bot:
        return Bot.model_validate({"name": self.name, **self._view_fields()})

    def _view_fields(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "system_prompt": self.system_prompt,
            "has_api_key": self.has_api_key,
            "tools": self.tools,
            "monthly_token_budget": self.monthly_token_budget,
            "answers_replies": self.answers_replies,
        }


def default_bot(room: RoomItem) -> BotProfile:
    return BotProfile(BOT_USERNAME, cast(BotSettingsFields, room), is_default=True)


def profiles(room: RoomItem) -> list[BotProfile]:
    """The room's bots: the default bot first, then the named ones as they were added."""
    named = sorted(
        (room.get("bots") or {}).values(),
        key=lambda entry: (entry.get("created_at", ""), entry.get("name", "")),
    )
    return [default_bot(room)] + [
        BotProfile(entry["name"], entry, is_default=False) for entry in named
    ]


def find(room: RoomItem, name: str) -> BotProfile | None:
    """The room's bot of this name (any case); None when it has none."""
    key = name.lower()
    if key == BOT_USERNAME:
        return default_bot(room)
    entry = (room.get("bots") or {}).get(key)
    return BotProfile(entry["name"], entry, is_default=False) if entry else None


def addressed(room: RoomItem, content: str, replied: MessageItem | None) -> BotProfile | None:
    """The bot a message is a command for: the one its `@name` (or `/bot`) names, if the
    room has it; else, for a reply to a bot's answer, that bot if it answers replies."""
    name = addressed_name(content)
    if name is not None:
        found = find(room, name)
        if found is not None:
            return found
    if replied is not None and replied.get("message_type") == "bot":
        author = find(room, replied["username"])
        if author is not None and author.answers_replies:
            return author
    return None


def might_address(content: str) -> bool:
    """Whether a message could address a named bot (its bot then needs the room read)."""
    name = addressed_name(content)
    return name is not None and name != BOT_USERNAME
