"""What the model sees: the system instruction and the conversation turns for one command.

Pure: messages in (stored items, chat.dal.items.MessageItem), ``ModelInput`` out.

Choices, so the worker and the tests agree on them:

- The window is the command plus the most recent earlier messages that fit both
  ``max_messages`` and ``max_chars`` (characters of the rendered turns, the command's
  included). The oldest are dropped first, and the window stays contiguous: it stops at
  the first message that does not fit. Messages stored after the command are not shown.
- People's messages (text and commands) are user turns written ``username: content``;
  the bot's earlier answers are model turns, as they were written. An answer that failed
  (``status`` "error") stays a model turn, marked as failed (with what was streamed before
  the failure): left out, the command it answered would merge with the next one and the
  model would answer both. Answers still streaming are left out, as are empty messages.
- Messages are seen as they are now: edited ones with their new text, deleted ones
  (tombstones) not at all.
- Command texts keep their trigger, written ``@bot`` whatever was typed (``/bot``,
  ``@BOT``): it tells the model which earlier messages were addressed to it, and the system
  instruction explains it.
- A message's attachments are named after its text (``alice: look [attached: a.png]``), so
  a message with only files still makes a turn; deleted messages make none. The files
  themselves are added by chat.logic.bot.files for the messages the window kept
  (``ModelInput.message_ids``).
- Consecutive turns of the same role are merged (one per line): the Gemini API has
  rejected non-alternating contents, and merging loses nothing. The contents start with a
  user turn (leading model turns are dropped) and end with the command's turn.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Literal

from chat.dal.items import MessageItem
from chat.models import BOT_USERNAME, is_bot_command

MAX_MESSAGES = 40
MAX_CHARS = 16_000
_MAX_LISTED_MEMBERS = 50
_TRIGGER = "@" + BOT_USERNAME
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


def build_model_input(
    *,
    room_name: str,
    members: Iterable[str],
    system_prompt: str | None,
    history: Iterable[MessageItem],
    command: MessageItem,
    max_messages: int = MAX_MESSAGES,
    max_chars: int = MAX_CHARS,
) -> ModelInput:
    """The model input answering ``command`` in a room whose recent messages are ``history``
    (any order; it may include the command itself and messages stored after it)."""
    if max_messages < 1:
        raise ValueError("max_messages must leave room for the command")
    command_turn = Turn("user", _user_text(command))
    earlier = sorted(
        {m["message_id"]: m for m in history if m["message_id"] < command["message_id"]}.values(),
        key=lambda m: m["message_id"],
    )
    kept: list[Turn] = []
    kept_ids: list[str] = []
    chars = len(command_turn.text)
    for message in reversed(earlier):
        turn = _turn(message)
        if turn is None:
            continue
        if len(kept) + 1 >= max_messages or chars + len(turn.text) > max_chars:
            break
        kept.append(turn)
        kept_ids.append(message["message_id"])
        chars += len(turn.text)
    kept.reverse()
    kept_ids.reverse()
    while kept and kept[0].role == "model":
        kept.pop(0)
        kept_ids.pop(0)
    return ModelInput(
        system_instruction=system_instruction(room_name, members, system_prompt),
        contents=tuple(_merge_same_role([*kept, command_turn])),
        message_ids=(*kept_ids, command["message_id"]),
    )


def system_instruction(room_name: str, members: Iterable[str], system_prompt: str | None) -> str:
    people = list(dict.fromkeys(name for name in members if name != BOT_USERNAME))
    listed = ", ".join(people[:_MAX_LISTED_MEMBERS])
    if len(people) > _MAX_LISTED_MEMBERS:
        listed += f" and {len(people) - _MAX_LISTED_MEMBERS} others"
    text = (
        f'You are "{BOT_USERNAME}", an AI assistant taking part in a group chat in the room '
        f'"{room_name}". The people in the room: {listed or "nobody else yet"}.\n'
        'Each message from a person is shown as "username: message"; your own earlier '
        f'replies are shown as you wrote them. Messages starting with "{_TRIGGER}" are '
        "addressed to you. Reply to the last message, taking the conversation into account.\n"
        "Answer concisely, in plain conversational text, as one participant among others. "
        f'Do not start your reply with "{BOT_USERNAME}:".'
    )
    if system_prompt and system_prompt.strip():
        text += f"\n\nInstructions from the room's owner:\n{system_prompt.strip()}"
    return text


def _turn(message: MessageItem) -> Turn | None:
    if message.get("deleted"):
        return None
    content = message.get("content") or ""
    is_bot = message.get("message_type") == "bot" or message.get("is_bot")
    if is_bot and message.get("status") == "error":
        return Turn("model", f"{content.strip()}\n{FAILED_MARK}".strip())
    if not content.strip() and not message.get("attachments"):
        return None
    if is_bot:
        if message.get("status", "complete") != "complete":
            return None
        return Turn("model", content)
    return Turn("user", _user_text(message))


def _user_text(message: MessageItem) -> str:
    content = message["content"].strip()
    if is_bot_command(content):
        content = _TRIGGER + content[len(_TRIGGER) :]
    names = [attachment["filename"] for attachment in message.get("attachments") or ()]
    if names:
        content = f"{content} [attached: {', '.join(names)}]".strip()
    return f"{message['username']}: {content}"


def _merge_same_role(turns: Sequence[Turn]) -> list[Turn]:
    merged: list[Turn] = []
    for turn in turns:
        if merged and merged[-1].role == turn.role:
            merged[-1] = Turn(turn.role, f"{merged[-1].text}\n{turn.text}")
        else:
            merged.append(turn)
    return merged
