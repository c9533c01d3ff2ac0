"""Attachments: a member declares a file and gets a presigned S3 POST to upload it."""

from __future__ import annotations

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.api_gateway import Router

from chat.logic.conversation import attachments
from chat.models import AttachmentUpload, CreateAttachmentRequest, Id
from chat.transport.rest import BEARER, Caller

router = Router()


@router.post(
    "/rooms/<room_id>/attachments",
    security=BEARER,
    responses={
        201: {
            "description": "Declared; upload the file with the presigned POST",
            "content": {"application/json": {"model": AttachmentUpload}},
        }
    },
)
def create_attachment(
    principal: Caller, room_id: Id, body: CreateAttachmentRequest
) -> Response[AttachmentUpload]:
    upload = attachments.create_upload(principal, room_id, body)
    return Response(status_code=201, content_type="application/json", body=upload)
