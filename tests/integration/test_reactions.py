"""Reactions: PUT/DELETE …/reactions/{emoji}, the emoji rules, the bound, the frames."""

from __future__ import annotations

from typing import Any

import pytest

from tests.support.dynamo import count_dynamodb_calls


def _post(rest, room_id: str, token: str, content: str = "hello") -> dict[str, Any]:
    result = rest.post(f"/rooms/{room_id}/messages", {"content": content}, token=token)
    assert result.status == 201, result.body
    return result.body


def _path(room_id: str, message_id: str, emoji: str) -> str:
    return f"/rooms/{room_id}/messages/{message_id}/reactions/{emoji}"


def _stored(rest, room_id: str, token: str) -> list[dict[str, Any]]:
    return rest.get(f"/rooms/{room_id}/messages", token=token).body["messages"][-1]["reactions"]


def test_reactions_are_grouped_by_emoji_in_order_of_first_use(rest, room_with):
    room, tokens = room_with("alice", "bob", "carol")
    room_id = room["room_id"]
    message = _post(rest, room_id, tokens["alice"])
    path = lambda emoji: _path(room_id, message["message_id"], emoji)  # noqa: E731
    rest.put(path("👍"), token=tokens["bob"])
    rest.put(path(":tada:"), token=tokens["alice"])
    last = rest.put(path("👍"), token=tokens["carol"])
    assert last.status == 200, last.body
    expected = [
        {"emoji": "👍", "count": 2, "usernames": ["bob", "carol"]},
        {"emoji": ":tada:", "count": 1, "usernames": ["alice"]},
    ]
    assert last.body == {"reactions": expected}
    assert _stored(rest, room_id, tokens["alice"]) == expected


def test_reacting_twice_is_a_no_op_and_pushes_one_frame(rest, room_with, connect):
    room, tokens = room_with("alice", "bob")
    room_id = room["room_id"]
    message = _post(rest, room_id, tokens["alice"])
    watcher = connect(tokens["alice"])
    watcher.send({"type": "join", "room_id": room_id})
    first = rest.put(_path(room_id, message["message_id"], "🎉"), token=tokens["bob"])
    second = rest.put(_path(room_id, message["message_id"], "🎉"), token=tokens["bob"])
    assert first.status == second.status == 200
    assert (
        first.body
        == second.body
        == {"reactions": [{"emoji": "🎉", "count": 1, "usernames": ["bob"]}]}
    )
    assert watcher.frames("reaction") == [
        {
            "type": "reaction",
            "room_id": room_id,
            "message_id": message["message_id"],
            "emoji": "🎉",
            "username": "bob",
            "added": True,
            "count": 1,
        }
    ]


def test_removing_a_reaction_is_idempotent_and_the_last_one_takes_the_emoji_away(
    rest, room_with, connect
):
    room, tokens = room_with("alice", "bob")
    room_id = room["room_id"]
    message = _post(rest, room_id, tokens["alice"])
    rest.put(_path(room_id, message["message_id"], "👍"), token=tokens["bob"])
    rest.put(_path(room_id, message["message_id"], "👍"), token=tokens["alice"])
    watcher = connect(tokens["alice"])
    watcher.send({"type": "join", "room_id": room_id})
    removed = rest.delete(_path(room_id, message["message_id"], "👍"), token=tokens["bob"])
    again = rest.delete(_path(room_id, message["message_id"], "👍"), token=tokens["bob"])
    last = rest.delete(_path(room_id, message["message_id"], "👍"), token=tokens["alice"])
    assert (
        removed.body
        == again.body
        == {"reactions": [{"emoji": "👍", "count": 1, "usernames": ["alice"]}]}
    )
    assert last.status == 200
    assert last.body == {"reactions": []}
    frames = watcher.frames("reaction")
    assert [(f["username"], f["added"], f["count"]) for f in frames] == [
        ("bob", False, 1),
        ("alice", False, 0),
    ]


def test_a_twenty_first_emoji_is_a_422_and_changes_nothing(rest, room_with):
    room, tokens = room_with("alice")
    room_id = room["room_id"]
    message = _post(rest, room_id, tokens["alice"])
    for i in range(20):
        assert (
            rest.put(_path(room_id, message["message_id"], f":e{i}:"), token=tokens["alice"]).status
            == 200
        )
    result = rest.put(
        _path(room_id, message["message_id"], ":one-too-many:"), token=tokens["alice"]
    )
    assert result.status == 422
    assert result.error_code == "validation_error"
    assert [d["field"] for d in result.body["error"]["details"]] == ["emoji"]
    stored = _stored(rest, room_id, tokens["alice"])
    assert [r["emoji"] for r in stored] == [f":e{i}:" for i in range(20)]
    # and once one of them is gone, a new one fits
    token = tokens["alice"]
    assert rest.delete(_path(room_id, message["message_id"], ":e0:"), token=token).status == 200
    assert rest.put(_path(room_id, message["message_id"], ":new:"), token=token).status == 200


@pytest.mark.parametrize(
    "emoji",
    [
        "a b",  # whitespace
        "\u00a0",  # no-break space
        "\t",
        "x\u0007",  # control character
        "\u200d",  # an invisible joiner alone
        "🎉" * 9,  # 36 bytes
        "x" * 33,
    ],
)
def test_bad_emoji_are_a_422_naming_emoji(rest, room_with, emoji):
    room, tokens = room_with("alice")
    message = _post(rest, room["room_id"], tokens["alice"])
    result = rest.put(_path(room["room_id"], message["message_id"], emoji), token=tokens["alice"])
    assert result.status == 422, result.body
    assert [d["field"] for d in result.body["error"]["details"]] == ["emoji"]
    assert _stored(rest, room["room_id"], tokens["alice"]) == []


@pytest.mark.parametrize("emoji", ["👍", "👨‍👩‍👧", "❤️", ":tada:", "x" * 32, "🎉" * 8])
def test_good_emoji_are_accepted(rest, room_with, emoji):
    room, tokens = room_with("alice")
    message = _post(rest, room["room_id"], tokens["alice"])
    result = rest.put(_path(room["room_id"], message["message_id"], emoji), token=tokens["alice"])
    assert result.status == 200, result.body
    assert result.body["reactions"][0]["emoji"] == emoji


def test_reacting_to_a_deleted_message_is_a_409(rest, room_with):
    room, tokens = room_with("alice")
    message = _post(rest, room["room_id"], tokens["alice"])
    rest.delete(f"/rooms/{room['room_id']}/messages/{message['message_id']}", token=tokens["alice"])
    result = rest.put(_path(room["room_id"], message["message_id"], "👍"), token=tokens["alice"])
    assert result.status == 409
    assert result.error_code == "conflict"
    assert _stored(rest, room["room_id"], tokens["alice"]) == []


def test_unknown_messages_and_non_members_get_404(rest, room_with, register):
    room, tokens = room_with("alice")
    message = _post(rest, room["room_id"], tokens["alice"])
    unknown = rest.put(
        _path(room["room_id"], "01JUNKNOWNMESSAGEID0000000", "👍"), token=tokens["alice"]
    )
    outsider = rest.put(_path(room["room_id"], message["message_id"], "👍"), token=register("eve"))
    assert unknown.status == 404
    assert outsider.status == 404
    assert _stored(rest, room["room_id"], tokens["alice"]) == []


def test_a_reaction_costs_a_constant_number_of_calls(rest, room_with):
    room, tokens = room_with("alice")
    message = _post(rest, room["room_id"], tokens["alice"])
    with count_dynamodb_calls() as first:
        rest.put(_path(room["room_id"], message["message_id"], ":a:"), token=tokens["alice"])
    for i in range(10):
        rest.put(_path(room["room_id"], message["message_id"], f":b{i}:"), token=tokens["alice"])
    with count_dynamodb_calls() as later:
        rest.put(_path(room["room_id"], message["message_id"], ":c:"), token=tokens["alice"])
    assert first == later
    assert "Scan" not in later
