"""Environment every test runs in: the variables template.yaml gives the functions, with
table names equal to the tables' logical ids (the integration fixture creates them so)."""

from __future__ import annotations

import os

from local.template import load_template, resources_of_type

_TABLES = resources_of_type(load_template(), "AWS::DynamoDB::Table")


def _function_environment() -> dict[str, str]:
    env: dict[str, str] = {}
    for name, value in load_template()["Globals"]["Function"]["Environment"]["Variables"].items():
        if isinstance(value, dict) and value.get("Ref") in _TABLES:
            env[name] = value["Ref"]
        elif name.startswith("POWERTOOLS_TRACER_"):  # what traces may record, as deployed
            env[name] = str(value)
    return env


os.environ.update(
    {
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SECURITY_TOKEN": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "POWERTOOLS_SERVICE_NAME": "chat",
        "POWERTOOLS_METRICS_NAMESPACE": "CollabChat",
        "POWERTOOLS_TRACE_DISABLED": "true",
        "POWERTOOLS_LOG_LEVEL": "WARNING",
        "JWT_SECRET_ARN": "chat-jwt-signing-key",
        "TOKEN_TTL_SECONDS": "3600",
        "DEFAULT_BOT_MODEL": "gemini-2.5-flash",
        "WEBSOCKET_MANAGEMENT_URL": "https://testws.execute-api.us-east-1.amazonaws.com/v1",
        "IDEMPOTENCY_TABLE": "IdempotencyTable",
        "BCRYPT_COST": "4",
        **_function_environment(),
    }
)
os.environ.pop("AWS_ENDPOINT_URL", None)
