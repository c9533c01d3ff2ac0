"""A room's bot: its settings, stopping an answer, regenerating one. Every route is for
members only (changing the settings for the room's owner)."""

from __future__ import annotations

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.api_gateway import Router

from chat.logic.bot import control, room_settings
from chat.models import BotSettings, BotSettingsUpdate, Id, RegenerateResponse
from chat.transport.rest import BEARER, Caller

router = Router()


@router.get("/rooms/<room_id>/bot", security=BEARER)
def get_bot(principal: Caller, room_id: Id) -> BotSettings:
    return room_settings.get_bot_settings(principal, room_id)


@router.put("/rooms/<room_id>/bot", security=BEARER)
def put_bot(principal: Caller, room_id: Id, body: BotSettingsUpdate) -> BotSettings:
    return room_settings.update_bot_settings(principal, room_id, body)


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
