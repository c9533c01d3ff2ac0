"""Rooms, members, bot settings and messages: every route is for members only."""

from __future__ import annotations

from typing import Annotated

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.api_gateway import Router
from aws_lambda_powertools.event_handler.depends import Depends
from aws_lambda_powertools.event_handler.openapi.params import Query

from chat.logic import bot_settings, messages, rooms
from chat.logic.tokens import Principal
from chat.models import (
    BotSettings,
    BotSettingsUpdate,
    CreateRoomRequest,
    InviteRequest,
    JoinRoomRequest,
    MemberList,
    Message,
    MessageId,
    MessagePage,
    PostMessageRequest,
    Room,
    RoomList,
)
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
    return _created(rooms.create_room(principal, body))


@router.get("/rooms", security=BEARER)
def list_rooms(principal: Caller) -> RoomList:
    return rooms.list_rooms(principal)


@router.post("/rooms/join", security=BEARER)
def join_room(principal: Caller, body: JoinRoomRequest) -> Room:
    return rooms.join_room(principal, body.code)


@router.get("/rooms/<room_id>", security=BEARER)
def get_room(principal: Caller, room_id: str) -> Room:
    return rooms.get_room(principal, room_id)


@router.post("/rooms/<room_id>/invite", security=BEARER)
def invite(principal: Caller, room_id: str, body: InviteRequest) -> Room:
    return rooms.invite(principal, room_id, body.username)


@router.get("/rooms/<room_id>/members", security=BEARER)
def list_members(principal: Caller, room_id: str) -> MemberList:
    return rooms.list_members(principal, room_id)


@router.delete(
    "/rooms/<room_id>/members/me",
    security=BEARER,
    responses={204: {"description": "Left the room"}},
)
def leave_room(principal: Caller, room_id: str):  # 204: no body, so no return model
    rooms.leave_room(principal, room_id)
    return Response(status_code=204)


@router.get("/rooms/<room_id>/bot", security=BEARER)
def get_bot(principal: Caller, room_id: str) -> BotSettings:
    return bot_settings.get_bot_settings(principal, room_id)


@router.put("/rooms/<room_id>/bot", security=BEARER)
def put_bot(principal: Caller, room_id: str, body: BotSettingsUpdate) -> BotSettings:
    return bot_settings.update_bot_settings(principal, room_id, body)


@router.post(
    "/rooms/<room_id>/messages",
    security=BEARER,
    responses={201: {"description": "Stored", "content": {"application/json": {"model": Message}}}},
)
def post_message(principal: Caller, room_id: str, body: PostMessageRequest) -> Response[Message]:
    return _created(
        messages.post_message(
            principal, room_id, body.content, body.client_id, attachment_ids=body.attachments
        )
    )


@router.get("/rooms/<room_id>/messages", security=BEARER)
def list_messages(
    principal: Caller,
    room_id: str,
    limit: Annotated[int, Query(ge=1, le=100)] = 50,
    before: Annotated[MessageId | None, Query()] = None,
) -> MessagePage:
    return messages.history(principal, room_id, limit, before)
