"""The WebSocket management API: pushing a frame to one connection, closing one."""

from __future__ import annotations

from botocore.exceptions import ClientError

from chat import aws


class ConnectionGone(Exception):
    """The connection no longer exists (410), or no longer belongs to this API (403)."""


class Throttled(Exception):
    """API Gateway refused the call for the account's rate (429 LimitExceededException):
    the push may be made again later."""


_THROTTLED = ("LimitExceededException", "TooManyRequestsException", "ThrottlingException")


def post_to_connection(connection_id: str, data: bytes) -> None:
    try:
        aws.management_api().post_to_connection(ConnectionId=connection_id, Data=data)
    except ClientError as exc:
        _raise_gone(connection_id, exc)


def delete_connection(connection_id: str) -> None:
    """Close a connection (API Gateway then sends its `$disconnect`)."""
    try:
        aws.management_api().delete_connection(ConnectionId=connection_id)
    except ClientError as exc:
        _raise_gone(connection_id, exc)


def _raise_gone(connection_id: str, exc: ClientError) -> None:
    """ConnectionGone for a connection that no longer exists, Throttled for a call over the
    account's rate; the error itself otherwise."""
    error = exc.response.get("Error", {})
    status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
    if error.get("Code") in ("GoneException", "ForbiddenException") or status in (403, 410):
        raise ConnectionGone(connection_id) from exc
    if error.get("Code") in _THROTTLED or status == 429:
        raise Throttled(connection_id) from exc
    raise exc
