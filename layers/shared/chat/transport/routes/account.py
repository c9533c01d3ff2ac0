"""POST /auth/logout, PUT /auth/password, DELETE /auth/me: an account's own changes."""

from __future__ import annotations

from typing import Annotated

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.api_gateway import Router
from aws_lambda_powertools.event_handler.depends import Depends

from chat.logic.accounts import closing, password_change, revocation
from chat.models import AuthResponse, ChangePasswordRequest, DeleteAccountRequest
from chat.transport.rest import BEARER, Caller, client_address

router = Router()


@router.post("/auth/logout", security=BEARER, responses={204: {"description": "Logged out"}})
def logout(principal: Caller):  # 204: no body, so no return model
    revocation.revoke_token(principal)
    return Response(status_code=204)


@router.put("/auth/password", security=BEARER)
def change_password(
    body: ChangePasswordRequest,
    principal: Caller,
    address: Annotated[str, Depends(client_address)],
) -> AuthResponse:
    return password_change.change_password(principal, body, address)


@router.delete("/auth/me", security=BEARER, responses={204: {"description": "Account closed"}})
def delete_account(
    body: DeleteAccountRequest,
    principal: Caller,
    address: Annotated[str, Depends(client_address)],
):  # 204: no body, so no return model
    closing.close_account(principal, body, address)
    return Response(status_code=204)
