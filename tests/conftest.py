"""Environment every test runs in: the variables template.yaml gives the functions, with
table names equal to the tables' logical ids (the integration fixture creates them so)."""

from __future__ import annotations

import os

from local.template import load_template, resources_of_type

_TABLES = resources_of_type(load_template(), "AWS::DynamoDB::Table")
_BUCKETS = resources_of_type(load_template(), "AWS::S3::Bucket")


def bucket_name(logical_id: str) -> str:
    """The test name of a template bucket (bucket names are lowercase)."""
    return logical_id.lower()


def _function_environment() -> dict[str, str]:
    """Table and bucket variables, from the globals and from each function's own."""
    template = load_template()
    variables = dict(template["Globals"]["Function"]["Environment"]["Variables"])
    for function in resources_of_type(template, "AWS::Serverless::Function").values():
        variables.update(function["Properties"].get("Environment", {}).get("Variables", {}) or {})
    env: dict[str, str] = {}
    for name, value in variables.items():
        ref = value.get("Ref") if isinstance(value, dict) else None
        if ref in _TABLES:
            env[name] = ref
        elif ref in _BUCKETS:
            env[name] = bucket_name(ref)
    for name, value in template["Globals"]["Function"]["Environment"]["Variables"].items():
        if name.startswith("POWERTOOLS_TRACER_"):  # what traces may record, as deployed
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
        "CORS_ALLOW_ORIGIN": "*",
        "DEFAULT_BOT_MODEL": "gemini-2.5-flash",
        "WEBSOCKET_MANAGEMENT_URL": "https://testws.execute-api.us-east-1.amazonaws.com/v1",
        "IDEMPOTENCY_TABLE": "IdempotencyTable",
        "BCRYPT_COST": "4",
        # tests register many users from one address (test_limits sets its own limit)
        "REGISTRATIONS_PER_ADDRESS_PER_HOUR": "10000",
        **_function_environment(),
    }
)
os.environ.pop("AWS_ENDPOINT_URL", None)
