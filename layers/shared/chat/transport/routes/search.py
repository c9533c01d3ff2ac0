"""`GET /search`: messages of the caller's rooms (or of one) that hold every word of `q`."""

from __future__ import annotations

from typing import Annotated

from aws_lambda_powertools.event_handler.api_gateway import Router
from aws_lambda_powertools.event_handler.openapi.params import Query

from chat.logic.search import service
from chat.models import Id, SearchResults
from chat.transport.rest import BEARER, Caller

router = Router()


@router.get("/search", security=BEARER)
def search(
    principal: Caller,
    q: Annotated[str, Query(min_length=1, max_length=200)],
    room_id: Annotated[str | None, Query(min_length=1, max_length=64)] = None,
    limit: Annotated[int, Query(ge=1, le=service.MAX_LIMIT)] = service.DEFAULT_LIMIT,
    before: Annotated[Id | None, Query()] = None,
) -> SearchResults:
    return service.search(principal, q, room_id=room_id, limit=limit, before=before)
