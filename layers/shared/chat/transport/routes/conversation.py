"""A room's conversation: posting and reading messages, edits and deletions, reactions,
read state. Every route is for members only."""

from __future__ import annotations

from typing import Annotated

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.api_gateway import Router
from aws_lambda_powertools.event_handler.openapi.params import Query

from chat.logic.conversation import edits, history, messages, reactions, read_state
from chat.models import (
    EditMessageRequest,
    Id,
    MarkReadRequest,
    Message,
    MessagePage,
    MessagesAfterPage,
    PostMessageRequest,
    ReactionList,
    ReadState,
)
from chat.transport.rest import BEARER, Caller

router = Router()
_REACTION = "/rooms/<room_id>/messages/<message_id>/reactions/<emoji>"


@router.post(
    "/rooms/<room_id>/messages",
    security=BEARER,
    responses={
        201: {"description": "Stored", "content": {"application/json": {"model": Message}}},
        200: {
            "description": "Stored before: the sender already used this client_id in the room "
            "within 24 hours; the message it stored (nothing stored or pushed again)",
            "content": {"application/json": {"model": Message}},
        },
    },
)
def post_message(principal: Caller, room_id: Id, body: PostMessageRequest) -> Response[Message]:
    posted = messages.post_message(
        principal,
        room_id,
        body.content,
        body.client_id,
        attachment_ids=body.attachments,
        reply_to=body.reply_to,
        private=body.private,
    )
    status = 200 if posted.repeated else 201
    return Response(status_code=status, content_type="application/json", body=posted.message)


@router.get("/rooms/<room_id>/messages", security=BEARER)
def list_messages(
    principal: Caller,
    room_id: Id,
    limit: Annotated[int, Query(ge=1, le=100)] = 50,
    before: Annotated[Id | None, Query()] = None,
    after: Annotated[Id | None, Query()] = None,
) -> MessagePage | MessagesAfterPage:
    if after is not None:
        return history.history_after(principal, room_id, limit, after, before=before)
    return history.history(principal, room_id, limit, before)


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
    return Response(status_code=204)


@router.put(_REACTION, security=BEARER)
def add_reaction(principal: Caller, room_id: Id, message_id: Id, emoji: str) -> ReactionList:
    return reactions.react(principal, room_id, message_id, emoji, add=True)


@router.delete(_REACTION, security=BEARER)
def remove_reaction(principal: Caller, room_id: Id, message_id: Id, emoji: str) -> ReactionList:
    return reactions.react(principal, room_id, message_id, emoji, add=False)


@router.put("/rooms/<room_id>/read", security=BEARER)
def mark_read(principal: Caller, room_id: Id, body: MarkReadRequest) -> ReadState:
    return read_state.mark_read(principal, room_id, body.message_id)
