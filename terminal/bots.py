"""A room's bots: `/bots` lists them, the owner adds, changes and removes named ones;
`/private` asks a bot privately (only you see the question and the answer); `/summary`
asks the default bot what you missed."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from terminal.session import Session

HELP = """\
  /bots                  the room's bots       /bots add NAME [MODEL]   add a bot (owner)
  /bots NAME key|model|prompt|tools|budget|replies VALUE          change a bot (owner)
  /bots remove NAME      remove a bot (owner)  @NAME TEXT               ask that bot
  /private @NAME TEXT    ask a bot privately   /summary [public]        what you missed"""

COMMANDS = {"bots", "private", "summary"}
SETTINGS_USAGE = (
    "KEY|none, model NAME, prompt TEXT, tools room_search,web_search|none, "
    "budget TOKENS|none, replies on|off"
)


def settings_change(field: str, value: str) -> dict[str, Any] | None:
    """The settings body of `FIELD VALUE` (`/bot`, `/bots NAME`); None when it is not one."""
    if field == "key":
        return {"gemini_api_key": None if value in ("", "none", "null") else value}
    if field in ("model", "prompt"):
        return {"model" if field == "model" else "system_prompt": value}
    if field == "tools":
        none = value in ("", "none", "[]")
        return {"tools": [] if none else [t.strip() for t in value.split(",") if t.strip()]}
    if field == "budget":
        if value in ("none", "null"):
            return {"monthly_token_budget": None}
        return {"monthly_token_budget": int(value)} if value.isdigit() else None
    if field == "replies" and value in ("on", "off"):
        return {"answers_replies": value == "on"}
    return None


def describe(bot: dict[str, Any]) -> str:
    """One line about a bot and its settings."""
    budget = bot.get("monthly_token_budget")
    return (
        f"{bot.get('name', 'bot')}: model {bot['model']}, "
        f"own API key: {'yes' if bot['has_api_key'] else 'no'}, "
        f"tools: {', '.join(bot.get('tools') or []) or 'none'}, "
        f"budget: {'none' if budget is None else budget}, "
        f"answers replies: {'yes' if bot.get('answers_replies') else 'no'}, "
        f"prompt: {bot.get('system_prompt') or '(default)'}"
    )


class Bots:
    def __init__(self, session: Session):
        self.session = session

    def command(self, name: str, argument: str) -> bool:
        """Run /bots, /private or /summary; False if `name` (with `argument`) is not one."""
        if name not in COMMANDS or self.session.current is None:
            return False
        room_id = self.session.current["room_id"]
        if name == "private":
            if not argument:
                return False
            self.session.say(argument, private=True)
        elif name == "summary":
            self.summary(room_id, public=argument == "public")
        else:
            return self.bots(room_id, argument)
        return True

    def bots(self, room_id: str, argument: str) -> bool:
        api, note = self.session.api, self.session.note
        path = f"/rooms/{room_id}/bots"
        words = argument.split(" ", 2)
        if not argument:
            for bot in api.call("GET", path)["bots"]:
                note(describe(bot))
        elif words[0] == "add" and len(words) >= 2:
            body = {"name": words[1], **({"model": words[2]} if len(words) > 2 else {})}
            note(f"added {describe(api.call('POST', path, body))}")
        elif words[0] == "remove" and len(words) == 2:
            api.call("DELETE", f"{path}/{quote(words[1], safe='')}")
            note(f"removed {words[1]}; its answers stay in the history")
        elif len(words) >= 2:
            change = settings_change(words[1], words[2].strip() if len(words) > 2 else "")
            if change is None:
                note(f"usage: /bots NAME {SETTINGS_USAGE}")
                return True
            note(describe(api.call("PATCH", f"{path}/{quote(words[0], safe='')}", change)))
        else:
            return False
        return True

    def summary(self, room_id: str, *, public: bool) -> None:
        self.session.api.call("POST", f"/rooms/{room_id}/summary", {"private": not public})
        whom = "everyone" if public else "you only"
        self.session.note(f"asked the bot to summarize what you missed (shown to {whom})")
