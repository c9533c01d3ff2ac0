"""Rooms, members and bot settings (docs/API.md, Rooms)."""

from __future__ import annotations

import re

import boto3
import pytest

ISO_MS = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
ROOM_FIELDS = {
    "room_id",
    "code",
    "name",
    "owner",
    "is_group",
    "created_at",
    "has_api_key",
    "members",
}


def test_create_room_makes_the_caller_owner_and_the_bot_a_member(rest, register):
    token = register("alice")
    result = rest.post("/rooms", {"name": "  Project X  "}, token=token)
    assert result.status == 201
    room = result.body
    assert set(room) == ROOM_FIELDS
    assert room["name"] == "Project X"
    assert room["owner"] == "alice"
    assert room["is_group"] is True
    assert room["has_api_key"] is False
    assert ISO_MS.match(room["created_at"])
    roles = {member["username"]: member["role"] for member in room["members"]}
    assert roles == {"alice": "owner", "bot": "bot"}
    for member in room["members"]:
        assert set(member) == {"username", "role", "joined_at", "online", "last_read_message_id"}


def test_join_codes_are_short_unambiguous_and_distinct(rest, register):
    token = register("alice")
    codes = {rest.post("/rooms", {"name": f"r{i}"}, token=token).body["code"] for i in range(20)}
    assert len(codes) == 20
    for code in codes:
        assert re.fullmatch(
            r"[2-9A-HJKMNP-TV-Z]{4}-[2-9A-HJKMNP-TV-Z]{4}-[2-9A-HJKMNP-TV-Z]{4}", code
        ), code


@pytest.mark.parametrize("name", ["", "   ", "x" * 101])
def test_room_name_is_validated(rest, register, name):
    result = rest.post("/rooms", {"name": name}, token=register("alice"))
    assert result.status == 422
    assert result.body["error"]["details"][0]["field"] == "name"


def test_room_routes_need_a_token(rest):
    assert rest.get("/rooms").status == 401
    assert rest.post("/rooms", {"name": "x"}).status == 401


def test_join_by_code_in_any_case_and_twice_is_a_no_op(rest, register):
    owner, guest = register("alice"), register("bob")
    room = rest.post("/rooms", {"name": "general"}, token=owner).body
    sloppy = room["code"].lower().replace("-", " ")
    first = rest.post("/rooms/join", {"code": sloppy}, token=guest)
    second = rest.post("/rooms/join", {"code": room["code"]}, token=guest)
    assert first.status == second.status == 200
    assert first.body["room_id"] == room["room_id"]
    assert sorted(m["username"] for m in second.body["members"]) == ["alice", "bob", "bot"]
    assert [m["role"] for m in second.body["members"] if m["username"] == "bob"] == ["member"]


def test_join_with_unknown_code_is_404(rest, register):
    result = rest.post("/rooms/join", {"code": "ZZZZ-ZZZZ-ZZZZ"}, token=register("alice"))
    assert result.status == 404
    assert result.error_code == "not_found"


def test_list_rooms_newest_activity_first(rest, register):
    token = register("alice")
    older = rest.post("/rooms", {"name": "older"}, token=token).body
    newer = rest.post("/rooms", {"name": "newer"}, token=token).body
    listed = rest.get("/rooms", token=token).body["rooms"]
    assert [room["name"] for room in listed] == ["newer", "older"]
    assert listed[0]["last_message_at"] is None
    assert "members" not in listed[0]
    # When the older room gets a message it moves to the top
    rest.post(f"/rooms/{older['room_id']}/messages", {"content": "hello"}, token=token)
    listed = rest.get("/rooms", token=token).body["rooms"]
    assert [room["room_id"] for room in listed] == [older["room_id"], newer["room_id"]]
    assert ISO_MS.match(listed[0]["last_message_at"])


def test_list_rooms_shows_only_the_callers_rooms(rest, register):
    alice, bob = register("alice"), register("bob")
    rest.post("/rooms", {"name": "alice's"}, token=alice)
    assert rest.get("/rooms", token=bob).body == {"rooms": []}


def test_invite(rest, room_with, register):
    room, tokens = room_with("alice")
    register("carol")
    result = rest.post(
        f"/rooms/{room['room_id']}/invite", {"username": "CAROL"}, token=tokens["alice"]
    )
    assert result.status == 200
    assert sorted(m["username"] for m in result.body["members"]) == ["alice", "bot", "carol"]
    again = rest.post(
        f"/rooms/{room['room_id']}/invite", {"username": "carol"}, token=tokens["alice"]
    )
    assert again.status == 200
    assert len(again.body["members"]) == 3
    missing = rest.post(
        f"/rooms/{room['room_id']}/invite", {"username": "nobody"}, token=tokens["alice"]
    )
    assert missing.status == 404


def test_any_member_may_invite(rest, room_with, register):
    room, tokens = room_with("alice", "bob")
    register("dave")
    result = rest.post(
        f"/rooms/{room['room_id']}/invite", {"username": "dave"}, token=tokens["bob"]
    )
    assert result.status == 200


def test_members_and_leaving(rest, room_with):
    room, tokens = room_with("alice", "bob")
    path = f"/rooms/{room['room_id']}"
    members = rest.get(f"{path}/members", token=tokens["bob"])
    assert members.status == 200
    assert sorted(m["username"] for m in members.body["members"]) == ["alice", "bob", "bot"]
    assert all(m["online"] is False for m in members.body["members"])
    left = rest.delete(f"{path}/members/me", token=tokens["bob"])
    assert left.status == 204
    assert left.body is None
    assert rest.get(path, token=tokens["bob"]).status == 404
    assert sorted(
        m["username"] for m in rest.get(f"{path}/members", token=tokens["alice"]).body["members"]
    ) == ["alice", "bot"]


ROOM_ROUTES = [
    ("GET", "", None),
    ("GET", "/members", None),
    ("POST", "/invite", {"username": "alice"}),
    ("DELETE", "/members/me", None),
    ("GET", "/bot", None),
    ("PUT", "/bot", {"model": "gemini-2.5-pro"}),
    ("GET", "/messages", None),
    ("POST", "/messages", {"content": "hi"}),
]


@pytest.mark.parametrize(("method", "suffix", "body"), ROOM_ROUTES)
def test_every_room_route_is_404_for_non_members(rest, room_with, register, method, suffix, body):
    room, _ = room_with("alice")
    outsider = register("eve")
    for room_id in (room["room_id"], "01UNKNOWNROOM0000000000000", "x" * 65, "no.such:room"):
        result = rest.call(method, f"/rooms/{room_id}{suffix}", body=body, token=outsider)
        assert result.status == 404, (method, suffix, room_id)
        assert result.body == {"error": {"code": "not_found", "message": "Room not found"}}
        # and without a token, whatever the id, the answer is 401
        anonymous = rest.call(method, f"/rooms/{room_id}{suffix}", body=body)
        assert anonymous.status == 401, (method, suffix, room_id)


def test_bot_settings_defaults(rest, room_with):
    room, tokens = room_with("alice", "bob")
    result = rest.get(f"/rooms/{room['room_id']}/bot", token=tokens["bob"])
    assert result.status == 200
    assert result.body == {
        "model": "gemini-2.5-flash",
        "system_prompt": None,
        "has_api_key": False,
        "tools": [],
        "monthly_token_budget": None,
        "answers_replies": False,
    }


def test_only_the_owner_changes_bot_settings(rest, room_with):
    room, tokens = room_with("alice", "bob")
    result = rest.put(
        f"/rooms/{room['room_id']}/bot", {"model": "gemini-2.5-pro"}, token=tokens["bob"]
    )
    assert result.status == 403
    assert result.error_code == "forbidden"
    assert (
        rest.get(f"/rooms/{room['room_id']}/bot", token=tokens["bob"]).body["model"]
        == "gemini-2.5-flash"
    )


def test_owner_updates_and_removes_bot_settings(rest, room_with):
    room, tokens = room_with("alice")
    path, token = f"/rooms/{room['room_id']}/bot", tokens["alice"]
    updated = rest.put(
        path,
        {
            "model": "gemini-2.5-pro",
            "system_prompt": "Be brief.",
            "gemini_api_key": "AIza-secret-1",
        },
        token=token,
    )
    assert updated.status == 200
    assert updated.body == {
        "model": "gemini-2.5-pro",
        "system_prompt": "Be brief.",
        "has_api_key": True,
        "tools": [],
        "monthly_token_budget": None,
        "answers_replies": False,
    }
    # Absent fields stay as they are
    unchanged = rest.put(path, {"system_prompt": "Be kind."}, token=token)
    assert unchanged.body == {
        "model": "gemini-2.5-pro",
        "system_prompt": "Be kind.",
        "has_api_key": True,
        "tools": [],
        "monthly_token_budget": None,
        "answers_replies": False,
    }
    # null removes the key
    removed = rest.put(path, {"gemini_api_key": None}, token=token)
    assert removed.body["has_api_key"] is False
    assert rest.get(f"/rooms/{room['room_id']}", token=token).body["has_api_key"] is False


def test_owner_sets_and_clears_tools_and_budget(rest, room_with):
    room, tokens = room_with("alice", "bob")
    path, token = f"/rooms/{room['room_id']}/bot", tokens["alice"]
    both = {"tools": ["web_search", "room_search"], "monthly_token_budget": 50000}
    assert rest.put(path, both, token=token).status == 200
    seen = rest.get(path, token=tokens["bob"]).body
    assert (seen["tools"], seen["monthly_token_budget"]) == (["web_search", "room_search"], 50000)
    # another field alone leaves them as they are; a float that is an integer is one
    kept = rest.put(path, {"model": "gemini-2.5-pro", "monthly_token_budget": 1000.0}, token=token)
    assert (kept.body["tools"], kept.body["monthly_token_budget"]) == (both["tools"], 1000)
    # [] and null clear the tools, null the budget; 0 is a budget that allows nothing
    assert rest.put(path, {"tools": []}, token=token).body["tools"] == []
    assert rest.put(path, {"tools": ["room_search"]}, token=token).body["tools"] == ["room_search"]
    assert rest.put(path, {"tools": None}, token=token).body["tools"] == []
    assert (
        rest.put(path, {"monthly_token_budget": 0}, token=token).body["monthly_token_budget"] == 0
    )
    cleared = rest.put(path, {"monthly_token_budget": None}, token=token).body
    assert cleared["monthly_token_budget"] is None
    assert rest.put(path, both, token=tokens["bob"]).status == 403


@pytest.mark.parametrize(
    "body",
    [
        {"model": "../../evil"},
        {"model": ""},
        {"system_prompt": "x" * 4001},
        {"tools": ["shell"]},
        {"tools": "room_search"},
        {"tools": ["room_search", "room_search"]},
        {"monthly_token_budget": -1},
        {"monthly_token_budget": 1.5},
        {"monthly_token_budget": "1000"},
        {"monthly_token_budget": True},
        {"monthly_token_budget": 10**16},
    ],
)
def test_bot_settings_are_validated(rest, room_with, body):
    room, tokens = room_with("alice")
    assert rest.put(f"/rooms/{room['room_id']}/bot", body, token=tokens["alice"]).status == 422


def test_api_key_is_encrypted_at_rest_and_never_returned(rest, room_with, register, stack):
    secret = "AIzaSy-very-secret-gemini-key-0123456789"
    alice = register("alice")
    responses = [rest.post("/rooms", {"name": "keyed", "gemini_api_key": secret}, token=alice)]
    room = responses[0].body
    assert room["has_api_key"] is True
    room_id = room["room_id"]
    responses += [
        rest.get(f"/rooms/{room_id}", token=alice),
        rest.get("/rooms", token=alice),
        rest.get(f"/rooms/{room_id}/bot", token=alice),
        rest.put(f"/rooms/{room_id}/bot", {"gemini_api_key": secret + "-2"}, token=alice),
        rest.put(f"/rooms/{room_id}/bot", {"gemini_api_key": 12345}, token=alice),
        rest.get(f"/rooms/{room_id}/members", token=alice),
    ]
    for response in responses:
        assert secret not in str(response.body)
    # Stored only as KMS ciphertext bound to the room
    item = (
        boto3.resource("dynamodb")
        .Table("RoomsTable")
        .get_item(Key={"pk": f"ROOM#{room_id}"})["Item"]
    )
    assert secret.encode() not in bytes(item["api_key_ciphertext"])
    assert secret not in str(item)
    plaintext = boto3.client("kms").decrypt(
        CiphertextBlob=bytes(item["api_key_ciphertext"]), EncryptionContext={"room_id": room_id}
    )["Plaintext"]
    assert plaintext.decode() == secret + "-2"


def test_api_key_never_reaches_the_logs(rest, register, capsys):
    secret = "AIzaSy-log-canary-key-9876543210"
    rest.post("/rooms", {"name": "keyed", "gemini_api_key": secret}, token=register("alice"))
    rest.post("/rooms", {"name": "", "gemini_api_key": secret}, token=register("bob"))
    captured = capsys.readouterr()
    assert secret not in captured.out + captured.err
