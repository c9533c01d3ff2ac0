"""A room's bots: their settings, the named bots, their usage, stopping an answer,
regenerating one, a summary. Every route is for members only (changing the bots for the
room's owner)."""

from __future__ import annotations

from typing import Annotated

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.api_gateway import Router
from aws_lambda_powertools.event_handler.openapi.params import Query

from chat.logic.bot import control, room_settings, usage
from chat.logic.conversation import summaries
from chat.models import (
    Bot,
    BotList,
    BotSettings,
    BotSettingsUpdate,
    CreateBotRequest,
    Id,
    RegenerateResponse,
    SummaryRequest,
    UsageReport,
)
from chat.transport.rest import BEARER, Caller

router = Router()


@router.get("/rooms/<room_id>/bot", security=BEARER)
def get_bot(principal: Caller, room_id: Id) -> BotSettings:
    return room_settings.get_bot_settings(principal, room_id)


@router.put("/rooms/<room_id>/bot", security=BEARER)
def put_bot(principal: Caller, room_id: Id, body: BotSettingsUpdate) -> BotSettings:
    return room_settings.update_bot_settings(principal, room_id, body)


@router.get("/rooms/<room_id>/bots", security=BEARER)
def list_bots(principal: Caller, room_id: Id) -> BotList:
    return room_settings.list_bots(principal, room_id)


@router.post(
    "/rooms/<room_id>/bots",
    security=BEARER,
    responses={201: {"description": "Added", "content": {"application/json": {"model": Bot}}}},
)
def create_bot(principal: Caller, room_id: Id, body: CreateBotRequest) -> Response[Bot]:
    bot = room_settings.create_bot(principal, room_id, body)
    return Response(status_code=201, content_type="application/json", body=bot)


@router.patch("/rooms/<room_id>/bots/<name>", security=BEARER)
def update_bot(principal: Caller, room_id: Id, name: str, body: BotSettingsUpdate) -> Bot:
    return room_settings.update_bot(principal, room_id, name, body)


@router.delete(
    "/rooms/<room_id>/bots/<name>",
    security=BEARER,
    responses={204: {"description": "Removed"}},
)
def remove_bot(principal: Caller, room_id: Id, name: str):  # 204: no body
    room_settings.remove_bot(principal, room_id, name)
    return Response(status_code=204)


@router.get("/rooms/<room_id>/usage", security=BEARER)
def get_usage(
    principal: Caller,
    room_id: Id,
    month: Annotated[str | None, Query(pattern=r"^[0-9]{4}-(0[1-9]|1[0-2])$")] = None,
) -> UsageReport:
    return usage.usage_report(principal, room_id, month)


@router.post(
    "/rooms/<room_id>/messages/<message_id>/stop",
    security=BEARER,
    responses={202: {"description": "The answer is being stopped (a final frame follows)"}},
)
def stop_answer(principal: Caller, room_id: Id, message_id: Id):  # 202: no body
    control.stop_answer(principal, room_id, message_id)
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
    command_id = control.regenerate(principal, room_id, message_id)
    return Response(
        status_code=202,
        content_type="application/json",
        body=RegenerateResponse(command_id=command_id),
    )


@router.post(
    "/rooms/<room_id>/summary",
    security=BEARER,
    responses={
        202: {
            "description": "Queued: the default bot summarizes what the caller missed",
            "content": {"application/json": {"model": RegenerateResponse}},
        }
    },
)
def summarize(principal: Caller, room_id: Id, body: SummaryRequest) -> Response[RegenerateResponse]:
    command_id = summaries.request_summary(principal, room_id, body.since, body.private)
    return Response(
        status_code=202,
        content_type="application/json",
        body=RegenerateResponse(command_id=command_id),
    )
