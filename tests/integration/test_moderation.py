"""Moderation by the room's owner: rename, remove a member, rotate the join code."""

from __future__ import annotations

import pytest


def _online(rest, room_id: str, token: str) -> dict[str, bool]:
    members = rest.get(f"/rooms/{room_id}/members", token=token).body["members"]
    return {member["username"]: member["online"] for member in members}


# ------------------------------------------------------------------------------ rename
def test_the_owner_renames_the_room_and_subscribers_get_room_updated(rest, room_with, connect):
    room, tokens = room_with("alice", "bob")
    room_id = room["room_id"]
    watcher = connect(tokens["bob"])
    watcher.send({"type": "join", "room_id": room_id})
    result = rest.call(
        "PATCH", f"/rooms/{room_id}", body={"name": "  Team  "}, token=tokens["alice"]
    )
    assert result.status == 200, result.body
    assert result.body["name"] == "Team"
    assert {m["username"] for m in result.body["members"]} == {"alice", "bob", "bot"}
    assert watcher.frames("room_updated") == [
        {"type": "room_updated", "room_id": room_id, "name": "Team"}
    ]
    assert rest.get(f"/rooms/{room_id}", token=tokens["bob"]).body["name"] == "Team"


@pytest.mark.parametrize("name", ["", "   ", "x" * 101])
def test_a_bad_name_is_a_422_and_changes_nothing(rest, room_with, name):
    room, tokens = room_with("alice")
    result = rest.call(
        "PATCH", f"/rooms/{room['room_id']}", body={"name": name}, token=tokens["alice"]
    )
    assert result.status == 422
    assert [d["field"] for d in result.body["error"]["details"]] == ["name"]
    assert rest.get(f"/rooms/{room['room_id']}", token=tokens["alice"]).body["name"] == "general"


# ------------------------------------------------------------------------------ owners only
@pytest.mark.parametrize(
    ("method", "suffix", "body"),
    [
        ("PATCH", "", {"name": "mine now"}),
        ("DELETE", "/members/carol", None),
        ("POST", "/code", None),
    ],
)
def test_members_who_are_not_the_owner_get_403_and_nothing_changes(
    rest, room_with, method, suffix, body
):
    room, tokens = room_with("alice", "bob", "carol")
    room_id = room["room_id"]
    result = rest.call(method, f"/rooms/{room_id}{suffix}", body=body, token=tokens["bob"])
    assert result.status == 403
    assert result.error_code == "forbidden"
    after = rest.get(f"/rooms/{room_id}", token=tokens["alice"]).body
    assert (after["name"], after["code"]) == (room["name"], room["code"])
    assert {m["username"] for m in after["members"]} == {"alice", "bob", "carol", "bot"}


@pytest.mark.parametrize(
    ("method", "suffix", "body"),
    [("PATCH", "", {"name": "x"}), ("DELETE", "/members/alice", None), ("POST", "/code", None)],
)
def test_non_members_get_404(rest, room_with, register, method, suffix, body):
    room, _ = room_with("alice")
    result = rest.call(
        method, f"/rooms/{room['room_id']}{suffix}", body=body, token=register("eve")
    )
    assert result.status == 404


# ------------------------------------------------------------------------------ remove
def test_removing_a_member_unsubscribes_them_tells_them_and_the_others(rest, room_with, connect):
    room, tokens = room_with("alice", "bob", "carol")
    room_id = room["room_id"]
    sockets = {name: connect(tokens[name]) for name in ("alice", "bob", "carol")}
    bob_second = connect(tokens["bob"])
    for socket in [*sockets.values(), bob_second]:
        socket.send({"type": "join", "room_id": room_id})
    # When the owner removes bob
    result = rest.delete(f"/rooms/{room_id}/members/Bob", token=tokens["alice"])
    # Then 204; both of bob's sockets get `removed`, the others `presence` offline
    assert result.status == 204, result.body
    for socket in (sockets["bob"], bob_second):
        assert socket.frames("removed") == [{"type": "removed", "room_id": room_id}]
    for name in ("alice", "carol"):
        offline = [f for f in sockets[name].frames("presence") if f["status"] == "offline"]
        assert offline == [
            {"type": "presence", "room_id": room_id, "username": "bob", "status": "offline"}
        ]
        assert sockets[name].frames("removed") == []
    # And bob's sockets no longer get the room's frames
    before = len(sockets["bob"].frames())
    rest.post(f"/rooms/{room_id}/messages", {"content": "bye bob"}, token=tokens["alice"])
    assert len(sockets["bob"].frames()) == before
    assert sockets["carol"].frames("message")[-1]["content"] == "bye bob"
    # And the room is a 404 to him, over REST and the WebSocket
    assert rest.get(f"/rooms/{room_id}", token=tokens["bob"]).status == 404
    assert rest.get(f"/rooms/{room_id}/messages", token=tokens["bob"]).status == 404
    sockets["bob"].send({"type": "join", "room_id": room_id})
    assert sockets["bob"].frames("error")[-1]["code"] == "not_found"
    assert "bob" not in _online(rest, room_id, tokens["alice"])
    assert room_id not in [
        r["room_id"] for r in rest.get("/rooms", token=tokens["bob"]).body["rooms"]
    ]


def test_a_join_racing_the_removal_of_its_member_never_leaves_them_subscribed(
    rest, room_with, connect, monkeypatch
):
    from chat.dal.connections import room_subscribers
    from chat.logic.realtime import presence

    # Given bob's join passed its membership check just as alice removes him
    room, tokens = room_with("alice", "bob")
    room_id = room["room_id"]
    alice, bob = connect(tokens["alice"]), connect(tokens["bob"])
    alice.send({"type": "join", "room_id": room_id})
    checked = presence.require_member

    def removed_right_after_the_check(room_id_: str, user_id: str):
        membership = checked(room_id_, user_id)
        removal = rest.delete(f"/rooms/{room_id}/members/bob", token=tokens["alice"])
        assert removal.status == 204
        return membership

    monkeypatch.setattr(presence, "require_member", removed_right_after_the_check)
    # When the join then subscribes his socket
    bob.send({"type": "join", "room_id": room_id})
    # Then it is refused as for any non-member, and his socket follows nothing of the room
    (error,) = bob.frames("error")
    assert (error["code"], error["request_type"]) == ("not_found", "join")
    assert "bob" not in {s["username"] for s in room_subscribers(room_id, consistent=True)}
    alice.send({"type": "message", "room_id": room_id, "content": "bob is gone"})
    assert not [f for f in bob.frames("message") if f["content"] == "bob is gone"]


def test_removing_an_offline_member_announces_nothing(rest, room_with, connect):
    room, tokens = room_with("alice", "bob")
    room_id = room["room_id"]
    watcher = connect(tokens["alice"])
    watcher.send({"type": "join", "room_id": room_id})
    assert rest.delete(f"/rooms/{room_id}/members/bob", token=tokens["alice"]).status == 204
    assert watcher.frames("presence") == []


@pytest.mark.parametrize("username", ["alice", "bot", "BOT"])
def test_the_owner_cannot_remove_themselves_or_the_bot(rest, room_with, username):
    room, tokens = room_with("alice", "bob")
    result = rest.delete(f"/rooms/{room['room_id']}/members/{username}", token=tokens["alice"])
    assert result.status == 409
    assert result.error_code == "conflict"
    members = rest.get(f"/rooms/{room['room_id']}/members", token=tokens["alice"]).body["members"]
    assert {m["username"] for m in members} == {"alice", "bob", "bot"}


@pytest.mark.parametrize("username", ["nobody", "dave"])
def test_removing_someone_who_is_not_a_member_is_a_404(rest, room_with, register, username):
    room, tokens = room_with("alice")
    register("dave")  # a user, but not in the room
    result = rest.delete(f"/rooms/{room['room_id']}/members/{username}", token=tokens["alice"])
    assert result.status == 404


def test_leaving_with_members_me_still_works(rest, room_with):
    room, tokens = room_with("alice", "bob")
    result = rest.delete(f"/rooms/{room['room_id']}/members/me", token=tokens["bob"])
    assert result.status == 204
    assert rest.get(f"/rooms/{room['room_id']}", token=tokens["bob"]).status == 404


# ------------------------------------------------------------------------------ code
def test_rotating_the_code_retires_the_old_one(rest, room_with, register):
    room, tokens = room_with("alice")
    room_id = room["room_id"]
    result = rest.post(f"/rooms/{room_id}/code", token=tokens["alice"])
    assert result.status == 200, result.body
    new_code = result.body["code"]
    assert new_code != room["code"]
    assert rest.get(f"/rooms/{room_id}", token=tokens["alice"]).body["code"] == new_code
    late = register("late")
    old = rest.post("/rooms/join", {"code": room["code"]}, token=late)
    assert old.status == 404
    joined = rest.post("/rooms/join", {"code": new_code.lower()}, token=late)
    assert joined.status == 200
    assert joined.body["room_id"] == room_id


def test_a_code_collision_draws_another_code_and_keeps_the_old_claim_until_then(
    rest, room_with, monkeypatch
):
    from chat.logic.rooms import join_codes

    room, tokens = room_with("alice")
    other = rest.post("/rooms", {"name": "other"}, token=tokens["alice"]).body
    draws = iter([other["code"], "ZZZZ-ZZZZ-ZZZZ"])
    monkeypatch.setattr(join_codes, "new_join_code", lambda: next(draws))
    result = rest.post(f"/rooms/{room['room_id']}/code", token=tokens["alice"])
    assert result.status == 200
    assert result.body["code"] == "ZZZZ-ZZZZ-ZZZZ"
    # the other room's code still leads to the other room
    assert (
        rest.post("/rooms/join", {"code": other["code"]}, token=tokens["alice"]).body["room_id"]
        == other["room_id"]
    )
