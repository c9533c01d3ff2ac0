"""Secrets: the JWT signing key (Secrets Manager) and the rooms' Gemini keys (KMS)."""

from __future__ import annotations

from aws_lambda_powertools.utilities import parameters

from chat import clients as aws
from chat.config import settings

# The signing key is read once per container and then kept for this long.
_SECRET_MAX_AGE_SECONDS = 3600


def jwt_signing_key() -> str:
    return parameters.get_secret(settings().jwt_secret_arn, max_age=_SECRET_MAX_AGE_SECONDS)


def shared_gemini_key() -> str | None:
    """The stack-wide Gemini key, when the stack was given one."""
    arn = settings().shared_gemini_key_secret_arn
    if not arn:
        return None
    return parameters.get_secret(arn, max_age=_SECRET_MAX_AGE_SECONDS) or None


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
    return response["Plaintext"].decode("utf-8")
