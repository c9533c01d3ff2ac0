"""users table: `USER#<id>` holds the user; `USERNAME#<lower>` and `EMAIL#<lower>` are
uniqueness claims written in the same transaction (the username item also carries the
user, the password hash and the token generation, so a login is one read).

A closed account keeps its `USER#` and `USERNAME#` items, marked `deleted_at`, without a
password hash or an email: the username stays taken for good, nobody can log in as it, and
its email claim is given up. `TOKENS#<id>` items are chat.dal.revocations'.

A room's named bot claims its name in the same namespace (chat.dal.bots): a `USERNAME#`
item with `bot_name` and the bot's `room_id`, and no password. It stays when the bot is
removed, so nobody can ever register the name; it is no user (no login, no invitation)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, NamedTuple, cast

from chat.dal import revocations
from chat.dal.items import UserItem
from chat.dal.tables import batch_get, strip_none, table, table_name, transact
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
    """A user whose account is open."""
    item = table("users").get_item(Key=_user_key(user_id)).get("Item")
    return _public(item) if item and "deleted_at" not in item else None


def get_by_username(username: str) -> UserItem | None:
    found = get_credentials(username)
    return found.user if found else None


class Credentials(NamedTuple):
    user: UserItem
    password_hash: str
    token_generation: int  # the generation new tokens of the user carry


def get_credentials(username: str) -> Credentials | None:
    """The user (public fields), password hash and token generation of an open account,
    by username (any case)."""
    item = table("users").get_item(Key=username_key(username), ConsistentRead=True).get("Item")
    if not item or "password_hash" not in item:  # unknown, closed, or a bot's claim
        return None
    generation = int(item.get("token_generation", 0))
    return Credentials(_public(item), item["password_hash"], generation)


def _generation_condition(previous: int) -> str:
    condition = "attribute_exists(password_hash) AND "
    if previous == 0:
        return condition + "(attribute_not_exists(token_generation) OR token_generation = :prev)"
    return condition + "token_generation = :prev"


def _account_updates(
    credentials: Credentials, update: str, values: dict[str, Any]
) -> list[dict[str, Any]]:
    """The same conditional update of the user's `USER#` and `USERNAME#` items, and the
    new token generation (`:generation` in `values`) on its revocations: a transaction's
    items. Each item's condition: the account is open and still of the generation read."""
    user = credentials.user
    generation = values[":generation"]
    condition = _generation_condition(credentials.token_generation)
    return [
        {
            "Update": {
                "TableName": table_name("users"),
                "Key": key,
                "UpdateExpression": update,
                "ConditionExpression": condition,
                "ExpressionAttributeValues": {**values, ":prev": credentials.token_generation},
            }
        }
        for key in (_user_key(user["user_id"]), username_key(user["username"]))
    ] + [revocations.generation_update(user["user_id"], generation)]


def replace_password(credentials: Credentials, password_hash: str) -> int | None:
    """Store a new password hash and move the user to the next token generation (every
    earlier token revoked); the new generation, or None when the account changed meanwhile
    (closed, or another change of its password won)."""
    generation = credentials.token_generation + 1
    items = _account_updates(
        credentials,
        "SET password_hash = :hash, token_generation = :generation",
        {":hash": password_hash, ":generation": generation},
    )
    return generation if transact(items) is None else None


def close_account(credentials: Credentials, closed_at: str, erase_messages: bool) -> int | None:
    """Close the account: no password, no email (its claim given up), the next token
    generation, `deleted_at` set; the username stays taken. The new generation, or None
    when the account changed meanwhile."""
    generation = credentials.token_generation + 1
    items = _account_updates(
        credentials,
        "SET deleted_at = :at, token_generation = :generation, erase_messages = :erase"
        " REMOVE password_hash, email",
        {":at": closed_at, ":generation": generation, ":erase": erase_messages},
    )
    email = credentials.user["email"]
    if email:
        items.append({"Delete": {"TableName": table_name("users"), "Key": _email_key(email)}})
    return generation if transact(items) is None else None


def get_closed_account(user_id: str) -> UserItem | None:
    """A closed account's public fields (its email gone), or None while it is open."""
    item = table("users").get_item(Key=_user_key(user_id), ConsistentRead=True).get("Item")
    return _public(item) if item and "deleted_at" in item else None


def find_usernames(usernames: Sequence[str]) -> dict[str, UserItem]:
    """The users of these names (any case), by the lower-cased name; unknown ones and named
    bots (whose claims of a name hold no user) left out. One BatchGetItem per 100 names, on
    the username claims (user id and name only)."""
    names = list(dict.fromkeys(name.lower() for name in usernames))
    keys = [username_key(name) for name in names]
    claims = batch_get("users", keys, ProjectionExpression="user_id, username")
    # a person's claim, not a named bot's
    return {item["username"].lower(): _public(item) for item in claims if "user_id" in item}
