"""What the model sees for a summary (`POST /rooms/{id}/summary`): the messages after the
summary's `since`, up to its command, at most the last ``MAX_MESSAGES`` of them, as the
command's author may see them (a private summary: their own private messages too; a public
one: public messages only), deleted ones left out; and what to write of them.

Pure: messages in, ``ModelInput`` out. The messages are rendered one per line,
``username: content``. When they are more than ``MAX_CHARS_PER_REQUEST`` characters, the
summary is made in stages: the messages are cut into parts of at most that size (the newest
``MAX_STAGES`` parts; older ones are left out), the model condenses each part (not shown to
anyone), and the summary is written from the condensed parts.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from chat.dal.items import MessageItem
from chat.logic.bot.context import ModelInput, Turn
from chat.logic.message_view import visible

MAX_MESSAGES = 1000
MAX_CHARS_PER_REQUEST = 100_000
MAX_STAGES = 6
COMMAND_TEXT = "@bot Summarize what I missed"

_INSTRUCTION = (
    'You are "bot", an AI assistant in the group chat room "{room}". {who} asked you to '
    "summarize the messages below, which they missed. Write a short summary for them: what "
    "was decided, what is still open, and who asked what of whom. Name people by their "
    "username. Use short paragraphs or bullet points, plain text."
)
_STAGE_INSTRUCTION = (
    'You are condensing one part of the conversation of the chat room "{room}", for a '
    "summary written later. Keep every decision, open question, request (who asked what of "
    "whom) and fact a reader would need; drop greetings and chatter. Plain text."
)


def lines(messages: Iterable[MessageItem], viewer: str | None) -> list[str]:
    """The messages the summary is about, oldest first, one line each (a message's lines
    joined): those ``viewer`` may see, not deleted, with text or files."""
    rendered = []
    for message in sorted(messages, key=lambda m: m["message_id"]):
        if message.get("deleted") or not visible(message, viewer):
            continue
        if message.get("message_type") == "bot" and message.get("status") == "streaming":
            continue
        text = " ".join((message.get("content") or "").split())
        names = [attachment["filename"] for attachment in message.get("attachments") or ()]
        if names:
            text = f"{text} [attached: {', '.join(names)}]".strip()
        if text:
            rendered.append(f"{message['username']}: {text}")
    return rendered


def parts(rendered: Sequence[str], max_chars: int | None = None) -> list[list[str]]:
    """The lines cut into parts of at most ``max_chars`` characters (default
    ``MAX_CHARS_PER_REQUEST``; a longer line is a part of its own, cut), oldest first; only
    the newest ``MAX_STAGES`` parts are kept."""
    max_chars = max_chars or MAX_CHARS_PER_REQUEST
    cut: list[list[str]] = []
    size = 0
    for line in reversed(rendered):
        line = line[:max_chars]
        if not cut or size + len(line) + 1 > max_chars:
            if len(cut) == MAX_STAGES:
                break
            cut.append([])
            size = 0
        cut[-1].append(line)
        size += len(line) + 1
    return [list(reversed(part)) for part in reversed(cut)]


def model_input(
    room_name: str, command: MessageItem, messages: Iterable[MessageItem]
) -> ModelInput:
    """The input answering a summary ``command`` about ``messages`` (any order; the command
    itself left out by the caller)."""
    author, command_text = command["username"], command["content"]
    found = parts(lines(messages, command.get("visible_to")))
    system = _INSTRUCTION.format(room=room_name, who=author)

    def final(texts: Sequence[str], heading: str) -> ModelInput:
        body = "\n".join(texts) if texts else "(no messages)"
        request = f"{author}: {command_text}"
        return ModelInput(system, (Turn("user", f"{heading}\n{body}\n\n{request}"),))

    if len(found) <= 1:
        return final(found[0] if found else [], "The messages, oldest first:")
    stages = tuple(
        ModelInput(
            _STAGE_INSTRUCTION.format(room=room_name),
            (Turn("user", "Condense this part of the conversation:\n" + "\n".join(part)),),
        )
        for part in found
    )
    return ModelInput(
        system,
        (),
        stages=stages,
        combine=lambda texts: final(texts, "The conversation, condensed part by part:"),
    )
