"""The deployment's VAPID key pair (RFC 8292), kept in Secrets Manager (`VAPID_SECRET_ARN`).

The stack makes the secret itself, on its first deploy: CloudFormation generates a random
64-character value (`GenerateSecretString`), and the P-256 private key is derived from it
(HKDF-SHA256 to 48 bytes, reduced to a scalar in [1, n-1]: FIPS 186-5's key pair generation
with extra random bits), so every function reads the same pair with no write, no race and
no custom resource, and the local stack gets its own the same way. An operator may put an
existing key in the secret instead: a PEM private key, or the raw private key in base64url
(what `web-push generate-vapid-keys` and py-vapid print), so subscriptions made against it
keep working. Changing the secret changes the key: every browser must subscribe again.

The secret is read once per container and registered with chat.redaction.
"""

from __future__ import annotations

import base64
import binascii
from functools import lru_cache

from aws_lambda_powertools.utilities import parameters
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from chat import redaction
from chat.config import settings

_MAX_AGE_SECONDS = 3600
_P256_ORDER = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551
_DERIVATION = b"collab-chat VAPID P-256 key v1"


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _raw_private_key(text: str) -> bytes | None:
    """The 32 bytes of a raw private key in base64url, or None when `text` is not one."""
    if len(text.rstrip("=")) != 43:
        return None
    try:
        raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError):
        return None
    return raw if len(raw) == 32 else None


def private_key_from(secret: str) -> ec.EllipticCurvePrivateKey:
    """The key pair a secret value stands for (see the module docstring)."""
    text = secret.strip()
    if text.startswith("-----BEGIN"):
        key = serialization.load_pem_private_key(text.encode("ascii"), password=None)
        if not isinstance(key, ec.EllipticCurvePrivateKey) or key.curve.name != "secp256r1":
            raise ValueError("the VAPID secret's PEM key is not a P-256 key")
        return key
    raw = _raw_private_key(text)
    if raw is not None:
        return ec.derive_private_key(int.from_bytes(raw, "big"), ec.SECP256R1())
    if len(text) < 32:
        raise ValueError("the VAPID secret is too short to derive a key from")
    material = HKDF(algorithm=hashes.SHA256(), length=48, salt=None, info=_DERIVATION).derive(
        text.encode("utf-8")
    )
    scalar = int.from_bytes(material, "big") % (_P256_ORDER - 1) + 1
    return ec.derive_private_key(scalar, ec.SECP256R1())


def public_key_of(key: ec.EllipticCurvePrivateKey) -> str:
    """The application server key browsers subscribe with: base64url of the uncompressed
    P-256 point."""
    point = key.public_key().public_bytes(
        serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
    )
    return _b64url(point)


@lru_cache(maxsize=2)
def _key_of(secret: str) -> ec.EllipticCurvePrivateKey:
    return private_key_from(secret)


def private_key() -> ec.EllipticCurvePrivateKey:
    arn = settings().vapid_secret_arn
    if not arn:
        raise RuntimeError("VAPID_SECRET_ARN is not set for this function")
    secret = parameters.get_secret(arn, max_age=_MAX_AGE_SECONDS)
    redaction.register(secret)
    return _key_of(secret)


def public_key() -> str:
    return public_key_of(private_key())
