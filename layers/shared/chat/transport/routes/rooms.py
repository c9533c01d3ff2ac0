"""Rooms and their members, and moderation by the owner: every route is for members only
(moderation for the room's owner)."""

from __future__ import annotations

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.api_gateway import Router

from chat.logic.rooms import directory, membership, moderation
from chat.models import (
    CreateRoomRequest,
    Id,
    InviteRequest,
    JoinRoomRequest,
    MemberList,
    RenameRoomRequest,
    Room,
    RoomList,
)
from chat.transport.rest import BEARER, Caller

router = Router()


@router.post(
    "/rooms",
    security=BEARER,
    responses={201: {"description": "Created", "content": {"application/json": {"model": Room}}}},
)
def create_room(principal: Caller, body: CreateRoomRequest) -> Response[Room]:
    return Response(
        status_code=201,
        content_type="application/json",
        body=directory.create_room(principal, body),
    )


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
    return Response(status_code=204)


@router.post("/rooms/<room_id>/code", security=BEARER)
def rotate_code(principal: Caller, room_id: Id) -> Room:
    return moderation.rotate_code(principal, room_id)
