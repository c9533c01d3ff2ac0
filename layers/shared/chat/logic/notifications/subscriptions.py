"""Web Push subscriptions: a browser's `PushSubscription` (its push service's endpoint and
keys), at most MAX_PER_USER per user (a new one drops the oldest). An endpoint belongs to
one user: a browser that subscribes for another user stops getting the first one's.

Endpoints are `https://` URLs of a named host (no address, no user info, port 443), where
the notifier will POST; the local stack (PUSH_ALLOW_LOOPBACK) also takes
`http://127.0.0.1:<port>/…`, for its tests' push service.
"""

from __future__ import annotations

import base64
import binascii
from urllib.parse import urlsplit

from chat.config import settings
from chat.dal import notifications as notification_table
from chat.dal.items import PushSubscriptionItem
from chat.errors import ValidationFailed
from chat.ids import now_iso
from chat.models import PushSubscriptionRequest
from chat.principal import Principal

MAX_PER_USER = 10


def subscribe(principal: Principal, request: PushSubscriptionRequest) -> bool:
    """Store the caller's subscription; True when it is new (an endpoint already theirs
    gets its keys updated)."""
    endpoint = _checked_endpoint(request.endpoint)
    _check_key("keys.p256dh", request.keys.p256dh, 65)
    _check_key("keys.auth", request.keys.auth, 16)
    subscription_id = notification_table.subscription_id(endpoint)
    owner = notification_table.endpoint_owner(subscription_id)
    item = PushSubscriptionItem(
        user_id=principal.user_id,
        subscription_id=subscription_id,
        endpoint=endpoint,
        p256dh=request.keys.p256dh,
        auth=request.keys.auth,
        created_at=now_iso(),
    )
    current = notification_table.subscriptions_of(principal.user_id)
    known = next((s for s in current if s["subscription_id"] == subscription_id), None)
    if known is not None:
        item["created_at"] = known["created_at"]
    notification_table.put_subscription(item, owner)
    if known is None:
        _keep_newest(principal.user_id, [*current, item])
    return known is None


def public_key() -> str:
    """`GET /push/key`: the deployment's VAPID application server key."""
    # cryptography ships in the Web Push layer only, which the functions that close
    # accounts (and so forget their subscriptions through this module) do not carry.
    from chat.adapters import vapid_keys

    return vapid_keys.public_key()


def unsubscribe(principal: Principal, endpoint: str) -> None:
    """Forget the caller's subscription of this endpoint (nothing if there is none)."""
    subscription_id = notification_table.subscription_id(endpoint)
    notification_table.delete_subscription(principal.user_id, subscription_id)


def forget_user(user_id: str) -> None:
    """Every subscription of a user (an account that is closed)."""
    for subscription in notification_table.subscriptions_of(user_id):
        notification_table.delete_subscription(user_id, subscription["subscription_id"])


def _keep_newest(user_id: str, subscriptions: list[PushSubscriptionItem]) -> None:
    ordered = sorted(subscriptions, key=lambda s: (s["created_at"], s["subscription_id"]))
    for oldest in ordered[: max(0, len(ordered) - MAX_PER_USER)]:
        notification_table.delete_subscription(user_id, oldest["subscription_id"])


def _refuse(field: str, message: str) -> ValidationFailed:
    return ValidationFailed(message, details=[{"field": field, "message": message}])


def _checked_endpoint(endpoint: str) -> str:
    try:
        url = urlsplit(endpoint)
        port = url.port
    except ValueError:
        raise _refuse("endpoint", "endpoint is not a URL") from None
    host = url.hostname or ""
    if url.username is not None or url.password is not None or not url.path:
        raise _refuse("endpoint", "endpoint must be a push service URL")
    if url.scheme == "http" and host == "127.0.0.1" and settings().push_allow_loopback:
        return endpoint
    named = "." in host and not host.replace(".", "").isdigit() and ":" not in host
    if url.scheme != "https" or not named or port not in (None, 443):
        raise _refuse("endpoint", "endpoint must be an https:// URL of a push service")
    return endpoint


def _check_key(field: str, value: str, size: int) -> None:
    try:
        raw = base64.urlsafe_b64decode(value.rstrip("=") + "=" * (-len(value.rstrip("=")) % 4))
    except (binascii.Error, ValueError):
        raw = b""
    if len(raw) != size or (size == 65 and raw[0] != 4):
        raise _refuse(field, f"{field} must be {size} bytes in base64url")
