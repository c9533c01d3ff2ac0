"""The WebSocket management API: pushing a frame to one connection."""

from __future__ import annotations

from botocore.exceptions import ClientError

from chat import clients


class ConnectionGone(Exception):
    """The connection no longer exists (410), or no longer belongs to this API (403)."""


def post_to_connection(connection_id: str, data: bytes) -> None:
    try:
        clients.management_api().post_to_connection(ConnectionId=connection_id, Data=data)
    except ClientError as exc:
        error = exc.response.get("Error", {})
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
        if error.get("Code") in ("GoneException", "ForbiddenException") or status in (403, 410):
            raise ConnectionGone(connection_id) from exc
        raise
