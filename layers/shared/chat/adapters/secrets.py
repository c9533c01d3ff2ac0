"""Secrets: the JWT signing key (Secrets Manager) and the rooms' Gemini keys (KMS). Each is
registered with chat.redaction as it is read, so no log line, metric or trace can show it."""

from __future__ import annotations

from aws_lambda_powertools.utilities import parameters

from chat import aws, redaction
from chat.config import settings

# The signing key is read once per container and then kept for this long.
_SECRET_MAX_AGE_SECONDS = 3600


def jwt_signing_key() -> str:
    key = parameters.get_secret(settings().jwt_secret_arn, max_age=_SECRET_MAX_AGE_SECONDS)
    redaction.register(key)
    return key


def shared_gemini_key() -> str | None:
    """The stack-wide Gemini key, when the stack was given one."""
    arn = settings().shared_gemini_key_secret_arn
    if not arn:
        return None
    key = parameters.get_secret(arn, max_age=_SECRET_MAX_AGE_SECONDS) or None
    redaction.register(key)
    return key


def encrypt_api_key(room_id: str, api_key: str) -> bytes:
    """Encrypt a room's Gemini key, bound to the room by the encryption context."""
    response = aws.client("kms").encrypt(
        KeyId=settings().require("gemini_keys_kms_key_id"),
        Plaintext=api_key.encode("utf-8"),
        EncryptionContext={"room_id": room_id},
    )
    return response["CiphertextBlob"]


def decrypt_api_key(room_id: str, ciphertext: bytes) -> str:
    response = aws.client("kms").decrypt(
        CiphertextBlob=bytes(ciphertext),
        EncryptionContext={"room_id": room_id},
    )
    key = response["Plaintext"].decode("utf-8")
    redaction.register(key)
    return key
