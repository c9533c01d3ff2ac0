"""Print the OpenAPI document of the REST API, generated from the routes (`make openapi`).

A developer tool: it lives outside the deployed layer.
"""

from __future__ import annotations

import os

from aws_lambda_powertools.event_handler.openapi.models import HTTPBearer

from chat.transport.rest import build_app
from chat.transport.routes import attachments, auth, conversation, rooms, search

# The document depends on the code only, never on a deployment's settings; building the
# resolver reads them, so a bare shell gets placeholders (see main()).
_PLACEHOLDERS = {
    **{
        f"{name}_TABLE": "unused"
        for name in ("USERS", "ROOMS", "MEMBERSHIPS", "MESSAGES", "CONNECTIONS", "RATE_LIMITS")
    },
    "JWT_SECRET_ARN": "unused",
    "TOKEN_TTL_SECONDS": "3600",
    "DEFAULT_BOT_MODEL": "unused",
    "WEBSOCKET_MANAGEMENT_URL": "https://unused",
}


# The scheme the routes name in `security=BEARER` (chat.transport.rest).
OPENAPI_SECURITY = {"security_schemes": {"bearer": HTTPBearer()}}


def document() -> str:
    app = build_app(
        auth.router, rooms.router, conversation.router, attachments.router, search.router
    )
    return app.get_openapi_json_schema(
        title="Collaborative AI chat API",
        version="1.0.0",
        description="REST API of the chat backend. The wire contract is docs/API.md.",
        **OPENAPI_SECURITY,
    )


def main() -> None:
    for name, value in _PLACEHOLDERS.items():
        os.environ.setdefault(name, value)
    print(document())


if __name__ == "__main__":
    main()
