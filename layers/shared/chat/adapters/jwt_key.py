"""The access tokens' signing key, read from Secrets Manager once per container."""

from __future__ import annotations

from aws_lambda_powertools.utilities import parameters

from chat.config import settings

# The key is read once per container and then kept for this long.
_MAX_AGE_SECONDS = 3600


def jwt_signing_key() -> str:
    return parameters.get_secret(settings().jwt_secret_arn, max_age=_MAX_AGE_SECONDS)
