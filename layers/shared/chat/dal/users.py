"""users table: `USER#<id>` holds the user; `USERNAME#<lower>` and `EMAIL#<lower>` are
uniqueness claims written in the same transaction (the username item also carries the
user and the password hash, so a login is one read)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, cast

from chat import aws
from chat.dal.items import UserItem
from chat.dal.tables import strip_none, table, table_name, transact
from chat.errors import Conflict

_PUBLIC = ("user_id", "username", "email", "created_at")


def _user_key(user_id: str) -> dict[str, str]:
    return {"pk": f"USER#{user_id}"}


def _username_key(username: str) -> dict[str, str]:
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
                "Item": {**_username_key(user["username"]), **record},
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
    item = table("users").get_item(Key=_username_key(username), ConsistentRead=True).get("Item")
    return (_public(item), item["password_hash"]) if item else None


_BATCH_GET_MAX = 100


def find_usernames(usernames: Sequence[str]) -> dict[str, UserItem]:
    """The users of these names (any case), by the lower-cased name; unknown ones left out.
    One BatchGetItem per 100 names, on the username claims (user id and name only)."""
    names = list(dict.fromkeys(name.lower() for name in usernames))
    dynamodb = aws.dynamodb_resource()
    table_of_users = table_name("users")
    found: dict[str, UserItem] = {}
    for start in range(0, len(names), _BATCH_GET_MAX):
        request: dict[str, Any] = {
            table_of_users: {
                "Keys": [_username_key(name) for name in names[start : start + _BATCH_GET_MAX]],
                "ProjectionExpression": "user_id, username",
            }
        }
        while request:
            response = dynamodb.batch_get_item(RequestItems=request)
            for item in response["Responses"].get(table_of_users, []):
                found[item["username"].lower()] = _public(item)
            request = response.get("UnprocessedKeys") or {}
    return found
