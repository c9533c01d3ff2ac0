"""Conversation features (docs/API.md): edits, deletions, reactions, read state and
moderation. Every route is for members only; moderation is for the room's owner."""

from __future__ import annotations

from typing import Annotated

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.api_gateway import Router
from aws_lambda_powertools.event_handler.depends import Depends

from chat.logic.conversation import edits, reactions, read_state
from chat.logic.rooms import moderation
from chat.models import (
    EditMessageRequest,
    Id,
    MarkReadRequest,
    Message,
    ReactionList,
    ReadState,
    RenameRoomRequest,
    Room,
)
from chat.principal import Principal
from chat.transport.rest import BEARER, authenticate

router = Router()
Caller = Annotated[Principal, Depends(authenticate)]
_REACTION = "/rooms/<room_id>/messages/<message_id>/reactions/<emoji>"


def _no_content() -> Response:
    return Response(status_code=204)


@router.patch("/rooms/<room_id>/messages/<message_id>", security=BEARER)
def edit_message(
    principal: Caller, room_id: Id, message_id: Id, body: EditMessageRequest
) -> Message:
    return edits.edit_message(principal, room_id, message_id, body.content)


@router.delete(
    "/rooms/<room_id>/messages/<message_id>",
    security=BEARER,
    responses={204: {"description": "Deleted (or already deleted)"}},
)
def delete_message(principal: Caller, room_id: Id, message_id: Id):  # 204: no body
    edits.delete_message(principal, room_id, message_id)
    return _no_content()


@router.put(_REACTION, security=BEARER)
def add_reaction(principal: Caller, room_id: Id, message_id: Id, emoji: str) -> ReactionList:
    return reactions.react(principal, room_id, message_id, emoji, add=True)


@router.delete(_REACTION, security=BEARER)
def remove_reaction(principal: Caller, room_id: Id, message_id: Id, emoji: str) -> ReactionList:
    return reactions.react(principal, room_id, message_id, emoji, add=False)


@router.put("/rooms/<room_id>/read", security=BEARER)
def mark_read(principal: Caller, room_id: Id, body: MarkReadRequest) -> ReadState:
    return read_state.mark_read(principal, room_id, body.message_id)


@router.patch("/rooms/<room_id>", security=BEARER)
def rename_room(principal: Caller, room_id: Id, body: RenameRoomRequest) -> Room:
    return moderation.rename_room(principal, room_id, body.name)


@router.delete(
    "/rooms/<room_id>/members/<username>",
    security=BEARER,
    responses={204: {"description": "Removed"}},
)
def remove_member(principal: Caller, room_id: Id, username: str):  # 204: no body
    moderation.remove_member(principal, room_id, username)
    return _no_content()


@router.post("/rooms/<room_id>/code", security=BEARER)
def rotate_code(principal: Caller, room_id: Id) -> Room:
    return moderation.rotate_code(principal, room_id)
