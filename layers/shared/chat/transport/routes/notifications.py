"""Mentions and notifications (the notifications function): the mention inbox, a member's
notification level in a room, the VAPID key and the caller's Web Push subscriptions."""

from __future__ import annotations

from typing import Annotated

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.api_gateway import Router
from aws_lambda_powertools.event_handler.openapi.params import Query

from chat.logic.notifications import inbox, levels, subscriptions
from chat.models import (
    Id,
    MentionPage,
    NotificationLevelRequest,
    NotificationLevelSetting,
    PushKey,
    PushSubscriptionRequest,
    PushSubscriptionSaved,
    PushUnsubscribeRequest,
)
from chat.transport.rest import BEARER, Caller

router = Router()


@router.get("/mentions", security=BEARER)
def list_mentions(
    principal: Caller,
    limit: Annotated[int, Query(ge=1, le=100)] = 50,
    before: Annotated[Id | None, Query()] = None,
) -> MentionPage:
    return inbox.mentions_page(principal, limit, before)


@router.put("/rooms/<room_id>/notifications", security=BEARER)
def set_level(
    principal: Caller, room_id: Id, body: NotificationLevelRequest
) -> NotificationLevelSetting:
    return levels.set_level(principal, room_id, body.level)


@router.get("/push/key", security=BEARER)
def push_key(principal: Caller) -> PushKey:
    return PushKey(public_key=subscriptions.public_key())


@router.post(
    "/push/subscriptions",
    security=BEARER,
    responses={
        200: {
            "description": "Already subscribed (keys updated)",
            "content": {"application/json": {"model": PushSubscriptionSaved}},
        },
        201: {
            "description": "Subscribed",
            "content": {"application/json": {"model": PushSubscriptionSaved}},
        },
    },
)
def subscribe(principal: Caller, body: PushSubscriptionRequest) -> Response[PushSubscriptionSaved]:
    created = subscriptions.subscribe(principal, body)
    return Response(
        status_code=201 if created else 200,
        content_type="application/json",
        body=PushSubscriptionSaved(endpoint=body.endpoint),
    )


@router.delete(
    "/push/subscriptions",
    security=BEARER,
    responses={204: {"description": "Unsubscribed (or was not subscribed)"}},
)
def unsubscribe(principal: Caller, body: PushUnsubscribeRequest):  # 204: no body
    subscriptions.unsubscribe(principal, body.endpoint)
    return Response(status_code=204)
