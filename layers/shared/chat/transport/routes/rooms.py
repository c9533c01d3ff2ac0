"""Rooms, members, bot settings, messages and bot control: every route is for members
only."""

from __future__ import annotations

from typing import Annotated

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.api_gateway import Router
from aws_lambda_powertools.event_handler.depends import Depends
from aws_lambda_powertools.event_handler.openapi.params import Query

from chat.logic.bot import control as bot_control
from chat.logic.bot import room_settings
from chat.logic.conversation import history, messages
from chat.logic.rooms import directory, membership
from chat.models import (
    BotSettings,
    BotSettingsUpdate,
    CreateRoomRequest,
    Id,
    InviteRequest,
    JoinRoomRequest,
    MemberList,
    Message,
    MessagePage,
    MessagesAfterPage,
    PostMessageRequest,
    RegenerateResponse,
    Room,
    RoomList,
)
from chat.principal import Principal
from chat.transport.rest import BEARER, authenticate

router = Router()
Caller = Annotated[Principal, Depends(authenticate)]


def _created(body: Room | Message) -> Response:
    return Response(status_code=201, content_type="application/json", body=body)


@router.post(
    "/rooms",
    security=BEARER,
    responses={201: {"description": "Created", "content": {"application/json": {"model": Room}}}},
)
def create_room(principal: Caller, body: CreateRoomRequest) -> Response[Room]:
    return _created(directory.create_room(principal, body))


@router.get("/rooms", security=BEARER)
def list_rooms(principal: Caller) -> RoomList:
    return directory.list_rooms(principal)


@router.post("/rooms/join", security=BEARER)
def join_room(principal: Caller, body: JoinRoomRequest) -> Room:
    return membership.join_room(principal, body.code)


@router.get("/rooms/<room_id>", security=BEARER)
def get_room(principal: Caller, room_id: Id) -> Room:
    return directory.get_room(principal, room_id)


@router.post("/rooms/<room_id>/invite", security=BEARER)
def invite(principal: Caller, room_id: Id, body: InviteRequest) -> Room:
    return membership.invite(principal, room_id, body.username)


@router.get("/rooms/<room_id>/members", security=BEARER)
def list_members(principal: Caller, room_id: Id) -> MemberList:
    return membership.list_members(principal, room_id)


@router.delete(
    "/rooms/<room_id>/members/me",
    security=BEARER,
    responses={204: {"description": "Left the room"}},
)
def leave_room(principal: Caller, room_id: Id):  # 204: no body, so no return model
    membership.leave_room(principal, room_id)
    return Response(status_code=204)


@router.get("/rooms/<room_id>/bot", security=BEARER)
def get_bot(principal: Caller, room_id: Id) -> BotSettings:
    return room_settings.get_bot_settings(principal, room_id)


@router.put("/rooms/<room_id>/bot", security=BEARER)
def put_bot(principal: Caller, room_id: Id, body: BotSettingsUpdate) -> BotSettings:
    return room_settings.update_bot_settings(principal, room_id, body)


@router.post(
    "/rooms/<room_id>/messages",
    security=BEARER,
    responses={201: {"description": "Stored", "content": {"application/json": {"model": Message}}}},
)
def post_message(principal: Caller, room_id: Id, body: PostMessageRequest) -> Response[Message]:
    return _created(
        messages.post_message(
            principal,
            room_id,
            body.content,
            body.client_id,
            attachment_ids=body.attachments,
            reply_to=body.reply_to,
        )
    )


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


@router.post(
    "/rooms/<room_id>/messages/<message_id>/stop",
    security=BEARER,
    responses={202: {"description": "The answer is being stopped (a final frame follows)"}},
)
def stop_answer(principal: Caller, room_id: Id, message_id: Id):  # 202: no body
    bot_control.stop_answer(principal, room_id, message_id)
    return Response(status_code=202)


@router.post(
    "/rooms/<room_id>/messages/<message_id>/regenerate",
    security=BEARER,
    responses={
        202: {
            "description": "Queued: the command is answered again",
            "content": {"application/json": {"model": RegenerateResponse}},
        }
    },
)
def regenerate(principal: Caller, room_id: Id, message_id: Id) -> Response[RegenerateResponse]:
    command_id = bot_control.regenerate(principal, room_id, message_id)
    return Response(
        status_code=202,
        content_type="application/json",
        body=RegenerateResponse(command_id=command_id),
    )
