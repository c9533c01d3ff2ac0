"""Web Push pieces that need no network: the VAPID key a secret stands for, the outcome of a
push service's answer, and the notification job's wire form."""

from __future__ import annotations

import base64
import secrets

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from chat.adapters.notification_queue import NotificationJob
from chat.adapters.vapid_keys import private_key_from, public_key_of
from chat.adapters.web_push import result_of


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def test_a_generated_secret_stands_for_one_p256_key_pair_always_the_same() -> None:
    secret = secrets.token_urlsafe(48)  # as CloudFormation's GenerateSecretString: random text
    key = private_key_from(secret)
    assert key.curve.name == "secp256r1"
    assert public_key_of(key) == public_key_of(private_key_from(secret))  # every container
    assert public_key_of(key) != public_key_of(private_key_from(secrets.token_urlsafe(48)))
    point = base64.urlsafe_b64decode(public_key_of(key) + "=")
    assert len(point) == 65 and point[0] == 4  # uncompressed P-256 point, base64url


def test_an_existing_key_can_be_put_in_the_secret_as_pem_or_raw_base64url() -> None:
    existing = ec.generate_private_key(ec.SECP256R1())
    pem = existing.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    raw = _b64(existing.private_numbers().private_value.to_bytes(32, "big"))
    assert public_key_of(private_key_from(pem)) == public_key_of(existing)
    assert public_key_of(private_key_from(raw)) == public_key_of(existing)


def test_a_secret_that_cannot_be_a_key_is_refused() -> None:
    with pytest.raises(ValueError, match="too short"):
        private_key_from("short")
    other_curve = ec.generate_private_key(ec.SECP384R1()).private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    with pytest.raises(ValueError, match="P-256"):
        private_key_from(other_curve.decode())


@pytest.mark.parametrize(
    ("status", "retry_after", "outcome", "seconds"),
    [
        (201, None, "sent", None),
        (404, None, "gone", None),
        (410, None, "gone", None),
        (429, "7", "retry", 7),
        (500, None, "retry", None),
        (503, "soon", "retry", None),
        (400, None, "refused", None),
        (403, None, "refused", None),  # a VAPID key the push service does not take
        (413, None, "refused", None),
    ],
)
def test_what_a_push_services_answer_means(
    status: int, retry_after: str | None, outcome: str, seconds: int | None
) -> None:
    result = result_of(status, retry_after)
    assert (result.outcome, result.retry_after) == (outcome, seconds)


def test_a_job_survives_the_queue() -> None:
    jobs = [
        NotificationJob("message", "r1", "m1"),
        NotificationJob("edit", "r1", "m1", mentioned=("bob", "carol")),
        NotificationJob("answer", "r1", "m2"),
        NotificationJob(
            "retry", "", "", user_id="u1", subscription_id="s", payload="{}", attempt=2
        ),
    ]
    for job in jobs:
        assert NotificationJob.from_body(job.body()) == job
    with pytest.raises(ValueError):
        NotificationJob.from_body('{"kind": "nonsense", "room_id": "r", "message_id": "m"}')
    with pytest.raises(KeyError):
        NotificationJob.from_body('{"kind": "message"}')
