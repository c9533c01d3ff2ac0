"""Simultaneous reactions, edits, deletions and read marks never lose one another.

The threads call the shared logic the handlers call (chat.logic.conversation.edits, reactions and
read_state), each as its own caller: a Powertools resolver keeps the current event on the
app object, so one app must not resolve two requests at once in one process (Lambda never
does).
"""

from __future__ import annotations

from typing import Any

from chat.errors import Conflict
from chat.logic.conversation import edits, reactions, read_state
from chat.principal import Principal
from tests.integration.test_concurrency import (  # noqa: F401 - the fixture is autouse
    _all_at_once,
    atomic_moto_requests,
)

N = 20


def _crowd(rest, register, size: int) -> tuple[dict[str, Any], Principal, list[Principal]]:
    """A room of an owner and `size` members, as principals."""

    def principal(token: str) -> Principal:
        me = rest.get("/auth/me", token=token).body
        return Principal(user_id=me["user_id"], username=me["username"])

    owner_token = register("owner")
    room = rest.post("/rooms", {"name": "busy"}, token=owner_token).body
    members = []
    for i in range(size):
        token = register(f"user{i}")
        rest.post("/rooms/join", {"code": room["code"]}, token=token)
        members.append(principal(token))
    room["owner_token"] = owner_token
    return room, principal(owner_token), members


def _post(rest, room: dict[str, Any], content: str) -> str:
    result = rest.post(
        f"/rooms/{room['room_id']}/messages", {"content": content}, token=room["owner_token"]
    )
    return result.body["message_id"]


def _stored(rest, room: dict[str, Any]) -> dict[str, Any]:
    page = rest.get(f"/rooms/{room['room_id']}/messages", token=room["owner_token"]).body
    return page["messages"][0]


def test_twenty_people_reacting_at_once_are_all_counted(rest, register):
    room, _, members = _crowd(rest, register, N)
    message_id = _post(rest, room, "vote!")
    # When 20 members react at once, half with 👍 and half each with their own emoji
    _all_at_once(
        lambda i: reactions.react(
            members[i], room["room_id"], message_id, "👍" if i % 2 else f":e{i}:", add=True
        )
    )
    # Then every reaction is there, 👍 first used or not
    stored = _stored(rest, room)
    by_emoji = {r["emoji"]: r for r in stored["reactions"]}
    assert sorted(by_emoji["👍"]["usernames"]) == sorted(f"user{i}" for i in range(1, N, 2))
    assert by_emoji["👍"]["count"] == N // 2
    assert set(by_emoji) == {"👍"} | {f":e{i}:" for i in range(0, N, 2)}


def test_adding_and_removing_at_once_ends_with_exactly_the_adds(rest, register):
    room, _, members = _crowd(rest, register, N)
    message_id = _post(rest, room, "hi")
    for member in members[: N // 2]:
        reactions.react(member, room["room_id"], message_id, "🎉", add=True)
    # When the first half remove their 🎉 while the second half add theirs
    _all_at_once(
        lambda i: reactions.react(members[i], room["room_id"], message_id, "🎉", add=i >= N // 2)
    )
    [reaction] = _stored(rest, room)["reactions"]
    assert sorted(reaction["usernames"]) == sorted(f"user{i}" for i in range(N // 2, N))


def test_an_edit_and_reactions_at_once_keep_both(rest, register):
    room, owner, members = _crowd(rest, register, N - 1)
    message_id = _post(rest, room, "draft")

    def act(i: int) -> Any:
        if i == 0:
            return edits.edit_message(owner, room["room_id"], message_id, "final")
        return reactions.react(members[i - 1], room["room_id"], message_id, "🎉", add=True)

    _all_at_once(act)
    stored = _stored(rest, room)
    assert stored["content"] == "final"
    assert stored["edited_at"] is not None
    assert stored["reactions"][0]["count"] == N - 1


def test_a_deletion_racing_reactions_leaves_a_clean_tombstone(rest, register):
    room, owner, members = _crowd(rest, register, N - 1)
    message_id = _post(rest, room, "x")

    def act(i: int) -> str:
        if i == 0:
            edits.delete_message(owner, room["room_id"], message_id)
            return "deleted"
        try:
            reactions.react(members[i - 1], room["room_id"], message_id, "👍", add=True)
            return "reacted"
        except Conflict:
            return "too late"

    outcomes = _all_at_once(act)
    # Reactions before the deletion succeeded, those after it were refused; none survive it
    assert set(outcomes[1:]) <= {"reacted", "too late"}
    stored = _stored(rest, room)
    assert stored["deleted"] is True
    assert stored["content"] == ""
    assert stored["reactions"] == []


def test_read_marks_at_once_end_at_the_newest(rest, register):
    room, _, members = _crowd(rest, register, 1)
    reader = members[0]
    ids = [_post(rest, room, f"m{i}") for i in range(N)]
    _all_at_once(lambda i: read_state.mark_read(reader, room["room_id"], ids[i]))
    members_view = rest.get(f"/rooms/{room['room_id']}/members", token=room["owner_token"])
    pointers = {m["username"]: m["last_read_message_id"] for m in members_view.body["members"]}
    assert pointers[reader.username] == ids[-1]
