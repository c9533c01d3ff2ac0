"""users table, `TOKENS#<user_id>`: which of a user's access tokens are revoked.

- `generation`: the user's token generation. A token issued in an earlier one is revoked (a
  password change, a deletion). The `USER#` and `USERNAME#` items carry the same number (a
  login issues tokens from it); the three are written in one transaction
  (`generation_update`, chat.dal.users).
- `jti:<token id>` = that token's expiry (epoch seconds): one token revoked (a logout). It is
  kept until the token would have expired: reads ignore it from then on, and the next
  revocation removes it (`revoke_token`), so the item holds only live revocations.

Whether a token is revoked is one strongly consistent GetItem of this item (a revocation is
seen by the next request, whichever container serves it).
"""

from __future__ import annotations

import time
from typing import Any

from chat.dal.items import RevocationsItem
from chat.dal.tables import table, table_name

_PREFIX = "jti:"


def _now() -> float:
    return time.time()


def _key(user_id: str) -> dict[str, str]:
    return {"pk": f"TOKENS#{user_id}"}


def get(user_id: str) -> RevocationsItem:
    """The user's revocations now (none for a user who never revoked a token)."""
    item = table("users").get_item(Key=_key(user_id), ConsistentRead=True).get("Item") or {}
    now = _now()
    revoked = {
        name[len(_PREFIX) :]: int(expiry)
        for name, expiry in item.items()
        if name.startswith(_PREFIX) and int(expiry) > now
    }
    return RevocationsItem(generation=int(item.get("generation", 0)), revoked=revoked)


def revoke_token(user_id: str, token_id: str, expires_at: int) -> None:
    """Revoke one token until `expires_at`; the revocations that expired go in the same
    write (read first: a revocation is rare, a check is not)."""
    item = table("users").get_item(Key=_key(user_id), ConsistentRead=True).get("Item") or {}
    now = _now()
    expired = [name for name, expiry in item.items() if name.startswith(_PREFIX) and expiry <= now]
    names = {"#new": _PREFIX + token_id}
    names.update({f"#old{index}": name for index, name in enumerate(expired)})
    update = "SET #new = :expires_at"
    if expired:
        update += " REMOVE " + ", ".join(f"#old{index}" for index in range(len(expired)))
    table("users").update_item(
        Key=_key(user_id),
        UpdateExpression=update,
        ExpressionAttributeNames=names,
        ExpressionAttributeValues={":expires_at": expires_at},
    )


def generation_update(user_id: str, generation: int) -> dict[str, Any]:
    """The transaction item that sets the user's token generation here."""
    return {
        "Update": {
            "TableName": table_name("users"),
            "Key": _key(user_id),
            "UpdateExpression": "SET generation = :generation",
            "ExpressionAttributeValues": {":generation": generation},
        }
    }
