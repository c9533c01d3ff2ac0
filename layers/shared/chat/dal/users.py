"""users table: `USER#<id>` holds the user; `USERNAME#<lower>` and `EMAIL#<lower>` are
uniqueness claims written in the same transaction (the username item also carries the
user and the password hash, so a login is one read).

A room's named bot claims its name in the same namespace (chat.dal.bots): a `USERNAME#`
item with `bot_name` and the bot's `room_id`, and no password. It stays when the bot is
removed, so nobody can ever register the name; it is no user (no login, no invitation)."""

from __future__ import annotations

from typing import Any, cast

from chat.dal.items import UserItem
from chat.dal.tables import strip_none, table, table_name, transact
from chat.errors import Conflict

_PUBLIC = ("user_id", "username", "email", "created_at")


def _user_key(user_id: str) -> dict[str, str]:
    return {"pk": f"USER#{user_id}"}


def username_key(username: str) -> dict[str, str]:
    return {"pk": f"USERNAME#{username.lower()}"}


def _email_key(email: str) -> dict[str, str]:
    return {"pk": f"EMAIL#{email.lower()}"}


def _public(item: dict[str, Any]) -> UserItem:
    return cast(UserItem, {key: item.get(key) for key in _PUBLIC})


def create_user(user: UserItem, password_hash: str) -> None:
    """Store a new user; Conflict when the username or email is taken (case-insensitively)."""
    users = table_name("users")
    record = strip_none({**user, "password_hash": password_hash})
    condition = "attribute_not_exists(pk)"
    items = [
        {
            "Put": {
                "TableName": users,
                "Item": {**_user_key(user["user_id"]), **record},
                "ConditionExpression": condition,
            }
        },
        {
            "Put": {
                "TableName": users,
                "Item": {**username_key(user["username"]), **record},
                "ConditionExpression": condition,
            }
        },
    ]
    email = user["email"]
    if email:
        items.append(
            {
                "Put": {
                    "TableName": users,
                    "Item": {**_email_key(email), "user_id": user["user_id"]},
                    "ConditionExpression": condition,
                }
            }
        )
    codes = transact(items)
    if codes is None:
        return
    if codes[1] == "ConditionalCheckFailed":
        raise Conflict("Username already taken")
    if len(codes) > 2 and codes[2] == "ConditionalCheckFailed":
        raise Conflict("Email already registered")
    raise Conflict("Could not register this user now, try again")


def get_user(user_id: str) -> UserItem | None:
    item = table("users").get_item(Key=_user_key(user_id)).get("Item")
    return _public(item) if item else None


def get_by_username(username: str) -> UserItem | None:
    found = get_credentials(username)
    return found[0] if found else None


def get_credentials(username: str) -> tuple[UserItem, str] | None:
    """The user (public fields) and its password hash, by username (any case)."""
    item = table("users").get_item(Key=username_key(username), ConsistentRead=True).get("Item")
    if item is None or "password_hash" not in item:  # no user, or a bot's claim
        return None
    return _public(item), item["password_hash"]
