"""Domain errors. Each carries the contract's machine-readable code; the transports map
codes to HTTP statuses (chat.transport.rest) and WebSocket error frames
(chat.transport.websocket_frames) in one place."""

from __future__ import annotations

from typing import Any


class ChatError(Exception):
    code = "internal"
    message = "Internal error"

    def __init__(self, message: str | None = None, *, details: list[dict[str, Any]] | None = None):
        super().__init__(message or self.message)
        self.message = message or self.message
        self.details = details


class BadRequest(ChatError):
    code = "bad_request"
    message = "Bad request"


class Unauthorized(ChatError):
    code = "unauthorized"
    message = "Not authenticated"


class Forbidden(ChatError):
    code = "forbidden"
    message = "Not allowed"


class NotFound(ChatError):
    code = "not_found"
    message = "Not found"


class Conflict(ChatError):
    code = "conflict"
    message = "Already exists"


class TooLarge(ChatError):
    code = "too_large"
    message = "Request too large"


class ValidationFailed(ChatError):
    code = "validation_error"
    message = "Validation failed"


class RateLimited(ChatError):
    code = "rate_limited"
    message = "Too many requests"

    def __init__(self, message: str | None = None, *, retry_after: int = 60):
        super().__init__(message)
        self.retry_after = retry_after


class Unavailable(ChatError):
    """A dependency failed; reported as `internal` without internal names."""

    code = "internal"
    message = "The service is temporarily unavailable"
