"""POST /auth/register, POST /auth/login, GET /auth/me."""

from __future__ import annotations

from typing import Annotated

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.api_gateway import Router
from aws_lambda_powertools.event_handler.depends import Depends

from chat.logic.accounts import sign_in
from chat.models import AuthResponse, LoginRequest, RegisterRequest, User
from chat.transport.rest import BEARER, Caller, client_address

router = Router()


@router.post(
    "/auth/register",
    responses={
        201: {"description": "Registered", "content": {"application/json": {"model": AuthResponse}}}
    },
    security=[],
)
def register(
    body: RegisterRequest, address: Annotated[str, Depends(client_address)]
) -> Response[AuthResponse]:
    return Response(
        status_code=201, content_type="application/json", body=sign_in.register(body, address)
    )


@router.post("/auth/login")
def login(body: LoginRequest, address: Annotated[str, Depends(client_address)]) -> AuthResponse:
    return sign_in.login(body, address)


@router.get("/auth/me", security=BEARER)
def me(principal: Caller) -> User:
    return sign_in.me(principal)
