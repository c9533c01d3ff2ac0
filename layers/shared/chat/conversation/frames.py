"""The server frames of the conversation features, typed: every one is built here."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel

from chat.models import Message


class _Frame(BaseModel):
    def wire(self) -> dict[str, Any]:
        return self.model_dump()


class MessageUpdated(_Frame, Message):
    """`{"type": "message_updated", ...Message}` after an edit."""

    type: Literal["message_updated"] = "message_updated"

    @classmethod
    def of(cls, message: Message) -> MessageUpdated:
        return cls(**message.model_dump())


class MessageDeleted(_Frame):
    type: Literal["message_deleted"] = "message_deleted"
    room_id: str
    message_id: str


class ReactionChanged(_Frame):
    type: Literal["reaction"] = "reaction"
    room_id: str
    message_id: str
    emoji: str
    username: str
    added: bool
    count: int


class ReadMoved(_Frame):
    type: Literal["read"] = "read"
    room_id: str
    username: str
    message_id: str


class RoomRenamed(_Frame):
    type: Literal["room_updated"] = "room_updated"
    room_id: str
    name: str


class Removed(_Frame):
    """To the sockets of a member the owner removed."""

    type: Literal["removed"] = "removed"
    room_id: str
