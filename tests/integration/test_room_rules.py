"""Owner hand-over, closed rooms, direct rooms and the room size (docs/API.md, Rooms and
Room size)."""

from __future__ import annotations

from chat.dal.tables import table
from chat.logic.rooms.membership import ROOM_MAX_PEOPLE


def people_in(room_id: str, count: int) -> None:
    """Given: the room counts `count` people (set up as if they had joined)."""
    table("rooms").update_item(
        Key={"pk": f"ROOM#{room_id}"},
        UpdateExpression="SET human_count = :n",
        ExpressionAttributeValues={":n": count},
    )


def _members(rest, room_id, token):
    return {
        m["username"]: m["role"]
        for m in rest.get(f"/rooms/{room_id}/members", token=token).body["members"]
    }


def _leave(rest, room_id, token):
    return rest.delete(f"/rooms/{room_id}/members/me", token=token)


def test_the_earliest_joined_human_becomes_owner_when_the_owner_leaves(rest, room_with, connect):
    room, tokens = room_with("alice", "bob", "carol")
    room_id = room["room_id"]
    watcher = connect(tokens["carol"])
    watcher.send({"type": "join", "room_id": room_id})
    assert _leave(rest, room_id, tokens["alice"]).status == 204
    assert rest.get(f"/rooms/{room_id}", token=tokens["bob"]).body["owner"] == "bob"
    assert _members(rest, room_id, tokens["bob"]) == {
        "bob": "owner",
        "carol": "member",
        "bot": "bot",
    }
    assert watcher.frames("room_updated") == [
        {"type": "room_updated", "room_id": room_id, "owner": "bob"}
    ]
    # The new owner may change the bot settings; the others may not.
    assert (
        rest.put(f"/rooms/{room_id}/bot", {"model": "gemini-x"}, token=tokens["bob"]).status == 200
    )
    assert (
        rest.put(f"/rooms/{room_id}/bot", {"model": "gemini-y"}, token=tokens["carol"]).status
        == 403
    )


def test_a_former_owner_who_rejoins_is_a_member_without_owner_rights(rest, room_with):
    room, tokens = room_with("alice", "bob")
    room_id = room["room_id"]
    assert _leave(rest, room_id, tokens["alice"]).status == 204
    assert rest.post("/rooms/join", {"code": room["code"]}, token=tokens["alice"]).status == 200
    assert _members(rest, room_id, tokens["alice"])["alice"] == "member"
    assert rest.put(f"/rooms/{room_id}/bot", {"model": "m"}, token=tokens["alice"]).status == 403


def test_a_room_no_human_is_left_in_keeps_its_history_but_cannot_be_joined(
    rest, room_with, register
):
    room, tokens = room_with("alice", "bob")
    room_id = room["room_id"]
    rest.post(f"/rooms/{room_id}/messages", {"content": "hello"}, token=tokens["bob"])
    assert _leave(rest, room_id, tokens["alice"]).status == 204
    assert _leave(rest, room_id, tokens["bob"]).status == 204
    dave = register("dave")
    assert rest.post("/rooms/join", {"code": room["code"]}, token=dave).status == 404
    assert rest.post("/rooms/join", {"code": room["code"]}, token=tokens["alice"]).status == 404


def test_a_direct_room_holds_two_people_besides_the_bot(rest, register):
    alice, bob, carol = register("alice"), register("bob"), register("carol")
    room = rest.post("/rooms", {"name": "dm", "is_group": False}, token=alice).body
    assert rest.post("/rooms/join", {"code": room["code"]}, token=bob).status == 200
    third = rest.post("/rooms/join", {"code": room["code"]}, token=carol)
    assert third.status == 409, third.body
    assert third.error_code == "conflict"
    invited = rest.post(f"/rooms/{room['room_id']}/invite", {"username": "carol"}, token=alice)
    assert invited.status == 409
    # Joining again is still a no-op for a member; after a leave there is room again.
    assert rest.post("/rooms/join", {"code": room["code"]}, token=bob).status == 200
    assert _leave(rest, room["room_id"], bob).status == 204
    assert rest.post("/rooms/join", {"code": room["code"]}, token=carol).status == 200


def test_group_rooms_have_no_such_limit(rest, room_with):
    room, tokens = room_with("a1a", "b2b", "c3c", "d4d")
    assert len(_members(rest, room["room_id"], tokens["a1a"])) == 5


def test_a_room_holds_ten_thousand_people_besides_its_bots(rest, room_with, register):
    room, tokens = room_with("alice", "bob")
    people_in(room["room_id"], ROOM_MAX_PEOPLE - 1)
    carol, dave = register("carol"), register("dave")
    # The 10,000th person joins; the next one, joining or invited, is refused
    assert rest.post("/rooms/join", {"code": room["code"]}, token=carol).status == 200
    refused = rest.post("/rooms/join", {"code": room["code"]}, token=dave)
    assert refused.status == 409, refused.body
    assert refused.error_code == "conflict"
    invited = rest.post(f"/rooms/{room['room_id']}/invite", {"username": "dave"}, token=carol)
    assert invited.status == 409
    assert "dave" not in _members(rest, room["room_id"], tokens["alice"])
    # A member joining again is a no-op, not a refusal; a leave makes room for one more
    assert rest.post("/rooms/join", {"code": room["code"]}, token=tokens["bob"]).status == 200
    assert _leave(rest, room["room_id"], tokens["bob"]).status == 204
    assert rest.post("/rooms/join", {"code": room["code"]}, token=dave).status == 200


def test_an_owner_cannot_leave_without_handing_over_while_humans_remain(rest, room_with):
    """The data layer refuses the owner's leave without a successor (as when the leaver
    became owner between reading the room and leaving); the logic then reads again."""
    from chat.dal import rooms as room_table
    from chat.logic.accounts.tokens import verify_token

    room, tokens = room_with("alice", "bob")
    room_id = room["room_id"]
    alice = verify_token(tokens["alice"])
    assert room_table.leave(room_id, alice.user_id) is False
    assert _members(rest, room_id, tokens["alice"])["alice"] == "owner"
    # Through the API the hand-over happens, and the last human may then leave.
    assert _leave(rest, room_id, tokens["alice"]).status == 204
    bob = verify_token(tokens["bob"])
    assert room_table.leave(room_id, bob.user_id) is True
