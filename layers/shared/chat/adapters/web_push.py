"""Sending one Web Push message (RFC 8030) with pywebpush: the payload encrypted for the
subscription (RFC 8291, `aes128gcm`, by http-ece), signed with the deployment's VAPID key
(RFC 8292, by py-vapid), TTL one day. What the push service answered, as an outcome:

- `sent` (2xx);
- `gone` (404, 410): the subscription expired or was revoked, never to work again;
- `retry` (429, 5xx, 408, no answer): worth trying again later (`retry_after` seconds, when
  the push service said so);
- `refused` (any other answer: a payload or a key it will not take): not retried.

pywebpush (and cryptography) are imported at the first push of a container, not at its
start: pywebpush loads aiohttp and asyncio (about 200 ms of a cold start), and most jobs push
nothing (their recipients are online, or their level asks for nothing).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from chat.config import settings

TTL_SECONDS = 24 * 3600
TIMEOUT_SECONDS = 10
_RETRY_STATUSES = frozenset({408, 425, 429, 500, 502, 503, 504})
_local = threading.local()  # a requests session per thread (Session is not thread-safe)

Outcome = Literal["sent", "gone", "retry", "refused"]


@dataclass(frozen=True)
class PushResult:
    outcome: Outcome
    status: int | None = None
    retry_after: int | None = None


if TYPE_CHECKING:
    import requests


def _session() -> requests.Session:
    import requests

    session = getattr(_local, "session", None)
    if session is None:
        session = _local.session = requests.Session()
    return session


def send(endpoint: str, p256dh: str, auth: str, data: str) -> PushResult:
    """Push `data` (a JSON text) to one subscription (its endpoint and keys); never raises
    for what the push service answered or for a network failure."""
    import requests
    from py_vapid import Vapid02
    from pywebpush import WebPushException, webpush

    from chat.adapters import vapid_keys  # cryptography: loaded with the first push too

    info: dict[str, Any] = {"endpoint": endpoint, "keys": {"p256dh": p256dh, "auth": auth}}
    try:
        response = webpush(
            subscription_info=info,
            data=data,
            vapid_private_key=Vapid02(private_key=vapid_keys.private_key()),
            vapid_claims={"sub": settings().push_contact},  # aud and exp: pywebpush's
            ttl=TTL_SECONDS,
            timeout=TIMEOUT_SECONDS,
            requests_session=_session(),
        )
    except WebPushException as exc:
        if exc.response is None:
            return PushResult("refused")
        return result_of(exc.response.status_code, exc.response.headers.get("Retry-After"))
    except requests.RequestException:
        return PushResult("retry")
    return result_of(getattr(response, "status_code", 201), None)


def result_of(status: int, retry_after: str | None) -> PushResult:
    if status < 300:
        return PushResult("sent", status)
    if status in (404, 410):
        return PushResult("gone", status)
    if status in _RETRY_STATUSES or status >= 500:
        seconds = int(retry_after) if retry_after and retry_after.strip().isdigit() else None
        return PushResult("retry", status, seconds)
    return PushResult("refused", status)
