"""Gemini API keys: each bot's own key encrypted with KMS (bound to its room, and a named
bot's to its name too), and the
stack-wide shared key in Secrets Manager. Each is registered with chat.redaction as it is
read, so no log line, metric or trace can show it."""

from __future__ import annotations

from typing import TYPE_CHECKING

from aws_lambda_powertools.utilities import parameters

from chat import aws, redaction
from chat.config import settings

if TYPE_CHECKING:
    from boto3.dynamodb.types import Binary

_SECRET_MAX_AGE_SECONDS = 3600


def shared_gemini_key() -> str | None:
    """The stack-wide Gemini key, when the stack was given one."""
    arn = settings().shared_gemini_key_secret_arn
    if not arn:
        return None
    key = parameters.get_secret(arn, max_age=_SECRET_MAX_AGE_SECONDS) or None
    redaction.register(key)
    return key


def _context(room_id: str, bot: str | None) -> dict[str, str]:
    """The encryption context: the room, and a named bot's name (lower case)."""
    return {"room_id": room_id} if bot is None else {"room_id": room_id, "bot": bot.lower()}


def encrypt_api_key(room_id: str, api_key: str, bot: str | None = None) -> bytes:
    """Encrypt the Gemini key of a room's default bot (`bot` None) or of its named bot
    `bot`, bound to them by the encryption context."""
    response = aws.kms().encrypt(
        KeyId=settings().gemini_keys_kms_key_id,
        Plaintext=api_key.encode("utf-8"),
        EncryptionContext=_context(room_id, bot),
    )
    return response["CiphertextBlob"]


def decrypt_api_key(room_id: str, ciphertext: bytes | Binary, bot: str | None = None) -> str:
    """A bot's key from its ciphertext (as the room item holds it: DynamoDB's Binary)."""
    response = aws.kms().decrypt(
        CiphertextBlob=bytes(ciphertext),  # type: ignore[arg-type]  # boto3-stubs: __bytes__ -> str
        EncryptionContext=_context(room_id, bot),
    )
    key = response["Plaintext"].decode("utf-8")
    redaction.register(key)
    return key
