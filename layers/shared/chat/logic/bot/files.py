"""What the bot sees of the attachments in its context (docs/API.md, Attachments).

The attachments of the messages in the model's window (``ModelInput.message_ids``), newest
message first, are given to the model while they fit ``MAX_FILE_BYTES`` in all: images and
PDFs as inline bytes, text files as text. The first one that does not fit, and every older
one, is named only. Deleted messages give nothing. Each file is preceded by a line naming
it and its sender, so the model can tell them apart; the message texts name their
attachments too (chat.logic.bot.context).

``plan`` is pure; ``attach`` reads the chosen files from the bucket (before the worker's
first write, like every other read of the answer).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from chat.adapters.storage import object_key
from chat.dal.items import MessageItem
from chat.logic.bot.context import Blob, ModelInput

MAX_FILE_BYTES = 20 * 1024 * 1024
INLINE_TYPES = frozenset({"image/png", "image/jpeg", "image/webp", "image/gif", "application/pdf"})
TEXT_TYPES = frozenset({"text/plain", "text/markdown"})


@dataclass(frozen=True)
class FileRef:
    room_id: str
    message_id: str
    username: str
    attachment_id: str
    filename: str
    content_type: str
    size: int

    @property
    def label(self) -> str:
        return f'"{self.filename}" ({self.content_type}, {self.size} bytes) from {self.username}'


@dataclass(frozen=True)
class FilePlan:
    shown: tuple[FileRef, ...]  # newest first
    named: tuple[FileRef, ...]  # over the budget: named only


def plan(
    messages: Iterable[MessageItem],
    message_ids: Iterable[str],
    budget: int = MAX_FILE_BYTES,
) -> FilePlan:
    """Which attachments of the window's messages the model gets, newest first."""
    window = set(message_ids)
    by_id = {m["message_id"]: m for m in messages if m["message_id"] in window}
    refs = [
        FileRef(
            room_id=message["room_id"],
            message_id=message["message_id"],
            username=message.get("username", ""),
            attachment_id=attachment["attachment_id"],
            filename=attachment["filename"],
            content_type=attachment["content_type"],
            size=int(attachment["size"]),
        )
        for message in sorted(by_id.values(), key=lambda m: m["message_id"], reverse=True)
        if not message.get("deleted")
        for attachment in message.get("attachments") or ()
    ]
    shown: list[FileRef] = []
    used = 0
    for index, ref in enumerate(refs):
        if used + ref.size > budget:
            return FilePlan(tuple(shown), tuple(refs[index:]))
        shown.append(ref)
        used += ref.size
    return FilePlan(tuple(shown), ())


def parts(chosen: FilePlan, read: Callable[[str], bytes | None]) -> tuple[str | Blob, ...]:
    """The model's file parts for a plan; ``read(key)`` gives an object's bytes (None when
    it is gone, e.g. its message was deleted meanwhile: then it is left out)."""
    if not chosen.shown and not chosen.named:
        return ()
    out: list[str | Blob] = [
        "Files attached to messages of this conversation, newest first "
        "(the messages name them as [attached: ...]):\n"
    ]
    for ref in chosen.shown:
        data = read(object_key(ref.room_id, ref.message_id, ref.attachment_id))
        if data is None:
            continue
        if ref.content_type in TEXT_TYPES:
            text = data.decode("utf-8", errors="replace")
            out.append(f"File {ref.label}, as text:\n{text}\n(end of {ref.filename})\n")
        elif ref.content_type in INLINE_TYPES:
            out.append(f"File {ref.label}:\n")
            out.append(Blob(mime_type=ref.content_type, data=data))
    if chosen.named:
        names = "; ".join(ref.label for ref in chosen.named)
        out.append(f"Older files, too large to show you here (named only): {names}\n")
    return tuple(out)


def attach(
    model_input: ModelInput,
    messages: Iterable[MessageItem],
    read: Callable[[str], bytes | None],
) -> ModelInput:
    """``model_input`` with the file parts of its window's attachments."""
    chosen = plan(messages, model_input.message_ids)
    return dataclasses.replace(model_input, file_parts=parts(chosen, read))
