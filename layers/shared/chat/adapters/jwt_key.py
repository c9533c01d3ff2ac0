"""The access tokens' signing key, read from Secrets Manager once per container and
registered with chat.redaction as it is read, so no log line, metric or trace can show it."""

from __future__ import annotations

from aws_lambda_powertools.utilities import parameters

from chat import redaction
from chat.config import settings

# The key is read once per container and then kept for this long.
_MAX_AGE_SECONDS = 3600


def jwt_signing_key() -> str:
    key = parameters.get_secret(settings().jwt_secret_arn, max_age=_MAX_AGE_SECONDS)
    redaction.register(key)
    return key
