"""Print the OpenAPI document of the REST API, generated from the routes (`make openapi`)."""

from __future__ import annotations

import os

# The document depends on the code only, never on a deployment's settings.
for _name in ("USERS", "ROOMS", "MEMBERSHIPS", "MESSAGES", "CONNECTIONS", "RATE_LIMITS"):
    os.environ.setdefault(f"{_name}_TABLE", "unused")
for _name, _value in (
    ("JWT_SECRET_ARN", "unused"),
    ("TOKEN_TTL_SECONDS", "3600"),
    ("DEFAULT_BOT_MODEL", "unused"),
    ("WEBSOCKET_MANAGEMENT_URL", "https://unused"),
):
    os.environ.setdefault(_name, _value)

from chat.api import auth, conversation, rooms  # noqa: E402
from chat.rest import OPENAPI_SECURITY, build_app  # noqa: E402


def document() -> str:
    app = build_app(auth.router, rooms.router, conversation.router)
    return app.get_openapi_json_schema(
        title="Collaborative AI chat API",
        version="1.0.0",
        description="REST API of the chat backend. The wire contract is shared/API.md.",
        **OPENAPI_SECURITY,
    )


if __name__ == "__main__":
    print(document())
