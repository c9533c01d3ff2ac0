"""Named bots over REST: adding, listing, changing and removing them; their names in the
username namespace; the default bot's routes unchanged."""

from __future__ import annotations

from typing import Any

import boto3
import pytest

from chat.config import settings
from tests.support.clients import RestClient

KEY = "AIzaNAMED-bot-key-0001"


def bots_path(room: dict[str, Any], name: str | None = None) -> str:
    path = f"/rooms/{room['room_id']}/bots"
    return f"{path}/{name}" if name else path


def add(rest: RestClient, room: dict[str, Any], token: str, name: str, **fields: Any):
    return rest.post(bots_path(room), {"name": name, **fields}, token=token)


def patch(rest: RestClient, room: dict[str, Any], token: str, name: str, body: dict[str, Any]):
    return rest.call("PATCH", bots_path(room, name), body=body, token=token)


def test_the_owner_adds_a_bot_that_is_listed_after_the_default_and_in_members(rest, room_with):
    room, tokens = room_with("alice", "bob")

    created = add(
        rest,
        room,
        tokens["alice"],
        "Reviewer",
        model="gemini-2.5-pro",
        system_prompt="Review code.",
        gemini_api_key=KEY,
        answers_replies=True,
    )

    assert created.status == 201, created.body
    assert created.body["name"] == "Reviewer"
    assert created.body["model"] == "gemini-2.5-pro"
    assert created.body["system_prompt"] == "Review code."
    assert created.body["has_api_key"] is True and created.body["answers_replies"] is True
    assert KEY not in str(created.body)
    listed = rest.get(bots_path(room), token=tokens["bob"])
    assert listed.status == 200
    assert [bot["name"] for bot in listed.body["bots"]] == ["bot", "Reviewer"]
    default = listed.body["bots"][0]
    assert default["model"] == settings().default_bot_model and default["has_api_key"] is False
    members = rest.get(f"/rooms/{room['room_id']}/members", token=tokens["bob"]).body["members"]
    assert {m["username"]: m["role"] for m in members} == {
        "alice": "owner",
        "bob": "member",
        "bot": "bot",
        "Reviewer": "bot",
    }


def test_only_the_owner_manages_bots_and_strangers_get_404(rest, room_with, register):
    room, tokens = room_with("alice", "bob")
    stranger = register("mallory")
    add(rest, room, tokens["alice"], "helper")

    assert add(rest, room, tokens["bob"], "other").status == 403
    assert patch(rest, room, tokens["bob"], "helper", {"model": "x"}).status == 403
    assert rest.delete(bots_path(room, "helper"), token=tokens["bob"]).status == 403
    assert add(rest, room, stranger, "other").status == 404
    assert rest.get(bots_path(room), token=stranger).status == 404


@pytest.mark.parametrize("name", ["bot", "BOT", "b.o.t", "System", "ab", "has space", "x" * 33])
def test_a_bot_name_follows_the_username_rules(rest, room_with, name):
    room, tokens = room_with("alice")
    refused = add(rest, room, tokens["alice"], name)
    assert refused.status == 422
    assert refused.body["error"]["details"][0]["field"] == "name"


def test_names_are_shared_with_users_both_ways_and_forever(rest, room_with, register):
    room, tokens = room_with("alice", "bob")
    other_room = rest.post("/rooms", {"name": "other"}, token=tokens["bob"]).body

    # a user's name, in any case, cannot be a bot's
    assert add(rest, room, tokens["alice"], "BOB").status == 409
    # a bot's name, in any case, cannot be registered, nor taken by another room's bot
    assert add(rest, room, tokens["alice"], "Planner").status == 201
    assert rest.post("/auth/register", {"username": "planner", "password": "p" * 10}).status == 409
    assert add(rest, other_room, tokens["bob"], "PLANNER").status == 409
    assert add(rest, room, tokens["alice"], "planner").status == 409  # already in the room
    # removed, it stays reserved against registration and other rooms
    assert rest.delete(bots_path(room, "planner"), token=tokens["alice"]).status == 204
    assert rest.post("/auth/register", {"username": "Planner", "password": "p" * 10}).status == 409
    assert add(rest, other_room, tokens["bob"], "planner").status == 409
    # the room that had it may add it again
    assert add(rest, room, tokens["alice"], "planner").status == 201


def test_a_bots_name_is_no_account(rest, room_with):
    room, tokens = room_with("alice")
    add(rest, room, tokens["alice"], "translator")

    login = rest.post("/auth/login", {"username": "translator", "password": "whatever-123"})
    assert login.status == 401
    invite = rest.post(
        f"/rooms/{room['room_id']}/invite", {"username": "translator"}, token=tokens["alice"]
    )
    assert invite.status == 404
    removal = rest.delete(f"/rooms/{room['room_id']}/members/translator", token=tokens["alice"])
    assert removal.status == 409


def test_a_room_holds_five_bots_with_the_default(rest, room_with):
    room, tokens = room_with("alice")
    for index in range(4):
        assert add(rest, room, tokens["alice"], f"helper{index}").status == 201

    sixth = add(rest, room, tokens["alice"], "helper4")

    assert sixth.status == 409
    assert sixth.body["error"]["code"] == "conflict"
    assert len(rest.get(bots_path(room), token=tokens["alice"]).body["bots"]) == 5
    # the refused name was not claimed: another room can have it
    other = rest.post("/rooms", {"name": "other"}, token=tokens["alice"]).body
    assert add(rest, other, tokens["alice"], "helper4").status == 201
    # a removed bot makes room for another
    assert rest.delete(bots_path(room, "helper0"), token=tokens["alice"]).status == 204
    assert add(rest, room, tokens["alice"], "helper5").status == 201


def test_patch_changes_only_the_fields_given_and_null_removes_the_key(rest, room_with):
    room, tokens = room_with("alice")
    add(rest, room, tokens["alice"], "Helper", gemini_api_key=KEY, system_prompt="Be brief.")

    changed = patch(rest, room, tokens["alice"], "HELPER", {"model": "gemini-x", "name": "y"})
    assert changed.status == 200, changed.body
    assert changed.body["name"] == "Helper" and changed.body["model"] == "gemini-x"
    assert changed.body["system_prompt"] == "Be brief." and changed.body["has_api_key"] is True

    cleared = patch(
        rest, room, tokens["alice"], "helper", {"gemini_api_key": None, "system_prompt": ""}
    )
    assert cleared.body["has_api_key"] is False and cleared.body["system_prompt"] is None
    assert patch(rest, room, tokens["alice"], "nobody", {"model": "x"}).status == 404


def test_the_default_bot_is_patched_as_bot_and_its_routes_still_work(rest, room_with):
    room, tokens = room_with("alice")

    changed = patch(rest, room, tokens["alice"], "bot", {"system_prompt": "Hi.", "model": "m1"})
    assert changed.status == 200
    assert changed.body["name"] == "bot" and changed.body["system_prompt"] == "Hi."
    settings_now = rest.get(f"/rooms/{room['room_id']}/bot", token=tokens["alice"]).body
    assert settings_now["system_prompt"] == "Hi." and settings_now["model"] == "m1"
    put = rest.put(
        f"/rooms/{room['room_id']}/bot", {"answers_replies": True}, token=tokens["alice"]
    )
    assert put.status == 200 and put.body["answers_replies"] is True
    assert rest.delete(bots_path(room, "Bot"), token=tokens["alice"]).status == 409


def test_removing_a_bot_takes_it_out_of_the_list_and_members(rest, room_with):
    room, tokens = room_with("alice")
    add(rest, room, tokens["alice"], "helper")

    assert rest.delete(bots_path(room, "Helper"), token=tokens["alice"]).status == 204

    assert rest.delete(bots_path(room, "helper"), token=tokens["alice"]).status == 404
    assert [b["name"] for b in rest.get(bots_path(room), token=tokens["alice"]).body["bots"]] == [
        "bot"
    ]
    members = rest.get(f"/rooms/{room['room_id']}/members", token=tokens["alice"]).body["members"]
    assert "helper" not in {m["username"] for m in members}


def test_a_named_bots_key_is_encrypted_for_that_bot_only(rest, room_with, stack):
    room, tokens = room_with("alice")
    add(rest, room, tokens["alice"], "Helper", gemini_api_key=KEY)

    item = (
        boto3.resource("dynamodb")
        .Table(settings().rooms_table)
        .get_item(Key={"pk": f"ROOM#{room['room_id']}"})["Item"]
    )
    ciphertext = bytes(item["bots"]["helper"]["api_key_ciphertext"])
    assert KEY.encode() not in ciphertext
    kms = boto3.client("kms")
    plain = kms.decrypt(
        CiphertextBlob=ciphertext, EncryptionContext={"room_id": room["room_id"], "bot": "helper"}
    )["Plaintext"]
    assert plain.decode() == KEY
    with pytest.raises(kms.exceptions.InvalidCiphertextException):
        kms.decrypt(CiphertextBlob=ciphertext, EncryptionContext={"room_id": room["room_id"]})
