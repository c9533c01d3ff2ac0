"""What the model sees: the system instruction and the conversation turns for one command,
as the bot it is for sees the room.

Pure: messages in (stored items, chat.dal.items.MessageItem), ``ModelInput`` out.

Choices, so the worker and the tests agree on them:

- The window is the command plus the most recent earlier messages that fit both
  ``max_messages`` and ``max_chars`` (characters of the rendered turns, the command's
  included). The oldest are dropped first, and the window stays contiguous: it stops at
  the first message that does not fit. Messages stored after the command are not shown.
- When the command replies to a message, the chain of messages it replies to (up to
  ``MAX_CHAIN``, newest kept first within half of ``max_chars``) comes before the window,
  oldest first, even when they are older than it; those the window holds are shown once.
- People's messages (text and commands) are user turns written ``username: content``;
  the bot's own earlier answers are model turns, as they were written; other bots'
  answers are user turns by their name, like a person's. An own answer that failed
  (``status`` "error") stays a model turn, marked as failed (with what was streamed before
  the failure): left out, the command it answered would merge with the next one and the
  model would answer both. Answers still streaming are left out, as are empty messages
  and other bots' answers that did not complete.
- Messages are seen as they are now: edited ones with their new text, deleted ones
  (tombstones) not at all. A private message (``visible_to``) is seen only by a private
  command of the same person: never by anyone else's command, nor by a public one (whose
  answer everybody reads).
- Command texts keep their trigger, written ``@<bot>`` whatever was typed (``/bot``,
  ``@BOT``, ``@Reviewer`` for ``reviewer``): it tells the model which earlier messages
  were addressed to which bot, and the system instruction explains it.
- A message's attachments are named after its text (``alice: look [attached: a.png]``), so
  a message with only files still makes a turn; deleted messages make none. The files
  themselves are added by chat.logic.bot.files for the messages the context kept
  (``ModelInput.message_ids``).
- Consecutive turns of the same role are merged (one per line): the Gemini API has
  rejected non-alternating contents, and merging loses nothing. The contents start with a
  user turn (leading model turns are dropped) and end with the command's turn.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Literal

from chat.dal.items import MessageItem
from chat.logic.message_view import visible
from chat.models import BOT_USERNAME, addressed_name

MAX_MESSAGES = 40
MAX_CHARS = 16_000
MAX_CHAIN = 20
_MAX_LISTED_MEMBERS = 50
FAILED_MARK = "[This answer failed and was not finished.]"


@dataclass(frozen=True)
class Turn:
    role: Literal["user", "model"]
    text: str


@dataclass(frozen=True)
class Blob:
    """A file given to the model as inline bytes (an image or a PDF)."""

    mime_type: str
    data: bytes


@dataclass(frozen=True)
class ModelInput:
    system_instruction: str
    contents: tuple[Turn, ...]
    # The messages the window kept (the command's included), oldest first.
    message_ids: tuple[str, ...] = ()
    # Attachments of those messages, put before the text of the last user turn: texts and
    # inline files, in order (chat.logic.bot.files fills them in).
    file_parts: tuple[str | Blob, ...] = ()
    # Input too long for one request (a summary, chat.logic.bot.summary): parts the model
    # condenses first, each answered whole and not shown, then `combine` of their texts is
    # the input answered.
    stages: tuple[ModelInput, ...] = ()
    combine: Callable[[Sequence[str]], ModelInput] | None = None


@dataclass(frozen=True)
class _Viewer:
    """Who is looking: the bot answering, and whose private messages it may see."""

    bot: str
    private_of: str | None  # a private command's author

    def turn(self, message: MessageItem) -> Turn | None:
        if message.get("deleted") or not visible(message, self.private_of):
            return None
        content = message.get("content") or ""
        is_bot = message.get("message_type") == "bot" or message.get("is_bot")
        own = is_bot and message["username"].lower() == self.bot.lower()
        if own and message.get("status") == "error":
            return Turn("model", f"{content.strip()}\n{FAILED_MARK}".strip())
        if not content.strip() and not message.get("attachments"):
            return None
        if is_bot and message.get("status", "complete") != "complete":
            return None
        if own:
            return Turn("model", content)
        return Turn("user", _user_text(message))


def build_model_input(
    *,
    room_name: str,
    members: Iterable[str],
    system_prompt: str | None,
    history: Iterable[MessageItem],
    command: MessageItem,
    bot: str = BOT_USERNAME,
    bots: Iterable[str] = (),
    chain: Sequence[MessageItem] = (),
    max_messages: int = MAX_MESSAGES,
    max_chars: int = MAX_CHARS,
) -> ModelInput:
    """The model input answering ``command`` for the bot named ``bot`` (the room's bots:
    ``bots``) in a room whose recent messages are ``history`` (any order; it may include
    the command itself and messages stored after it); ``chain``: the messages the command
    replies to, up its reply chain, newest first."""
    if max_messages < 1:
        raise ValueError("max_messages must leave room for the command")
    viewer = _Viewer(bot, command.get("visible_to"))
    command_turn = Turn("user", _user_text(command))
    first, first_chars = _chain(viewer, chain, command["message_id"], max_chars // 2)
    earlier = sorted(
        {m["message_id"]: m for m in history if m["message_id"] < command["message_id"]}.values(),
        key=lambda m: m["message_id"],
    )
    kept: list[tuple[str, Turn]] = []
    chars = len(command_turn.text) + first_chars
    for message in reversed(earlier):
        turn = viewer.turn(message)
        if turn is None:
            continue
        if len(kept) + 1 >= max_messages or chars + len(turn.text) > max_chars:
            break
        kept.append((message["message_id"], turn))
        chars += len(turn.text)
    kept.reverse()
    in_window = {message_id for message_id, _ in kept}
    kept = [pair for pair in first if pair[0] not in in_window] + kept
    while kept and kept[0][1].role == "model":
        kept.pop(0)
    return ModelInput(
        system_instruction=system_instruction(room_name, members, system_prompt, bot, bots),
        contents=tuple(_merge_same_role([*(turn for _, turn in kept), command_turn])),
        message_ids=(*(message_id for message_id, _ in kept), command["message_id"]),
    )


def _chain(
    viewer: _Viewer, chain: Sequence[MessageItem], command_id: str, max_chars: int
) -> tuple[list[tuple[str, Turn]], int]:
    """The turns of the reply chain (given newest first) that fit ``max_chars``, oldest
    first, and their characters."""
    turns: list[tuple[str, Turn]] = []
    chars = 0
    for message in chain[:MAX_CHAIN]:
        turn = viewer.turn(message) if message["message_id"] < command_id else None
        if turn is None:
            continue
        if chars + len(turn.text) > max_chars:
            break
        turns.append((message["message_id"], turn))
        chars += len(turn.text)
    turns.sort(key=lambda pair: pair[0])
    return turns, chars


def system_instruction(
    room_name: str,
    members: Iterable[str],
    system_prompt: str | None,
    bot: str = BOT_USERNAME,
    bots: Iterable[str] = (),
) -> str:
    bot_names = {name.lower() for name in (*bots, bot, BOT_USERNAME)}
    people = list(dict.fromkeys(name for name in members if name.lower() not in bot_names))
    listed = ", ".join(people[:_MAX_LISTED_MEMBERS])
    if len(people) > _MAX_LISTED_MEMBERS:
        listed += f" and {len(people) - _MAX_LISTED_MEMBERS} others"
    others = [name for name in dict.fromkeys(bots) if name.lower() != bot.lower()]
    text = (
        f'You are "{bot}", an AI assistant taking part in a group chat in the room '
        f'"{room_name}". The people in the room: {listed or "nobody else yet"}.\n'
    )
    if others:
        text += (
            f"Other AI assistants in the room: {', '.join(others)}; their messages are "
            "shown like a person's.\n"
        )
    text += (
        'Each message from a person is shown as "username: message"; your own earlier '
        f'replies are shown as you wrote them. Messages starting with "@{bot}" are '
        "addressed to you. Reply to the last message, taking the conversation into account.\n"
        "Answer concisely, in plain conversational text, as one participant among others. "
        f'Do not start your reply with "{bot}:".'
    )
    if system_prompt and system_prompt.strip():
        text += f"\n\nInstructions from the room's owner:\n{system_prompt.strip()}"
    return text


def _user_text(message: MessageItem) -> str:
    content = message["content"].strip()
    if message.get("message_type") == "command":
        content = _canonical_trigger(content, message.get("bot") or BOT_USERNAME)
    names = [attachment["filename"] for attachment in message.get("attachments") or ()]
    if names:
        content = f"{content} [attached: {', '.join(names)}]".strip()
    return f"{message['username']}: {content}"


def _canonical_trigger(content: str, bot: str) -> str:
    """A command's trigger written `@<bot>` as the bot is named (`/bot`, `@BOT` -> `@bot`)."""
    if addressed_name(content) != bot.lower():
        return content  # a reply to the bot's answer, without a trigger
    typed = len(BOT_USERNAME) + 1 if bot.lower() == BOT_USERNAME else len(bot) + 1
    return f"@{bot}{content[typed:]}"


def _merge_same_role(turns: Sequence[Turn]) -> list[Turn]:
    merged: list[Turn] = []
    for turn in turns:
        if merged and merged[-1].role == turn.role:
            merged[-1] = Turn(turn.role, f"{merged[-1].text}\n{turn.text}")
        else:
            merged.append(turn)
    return merged
