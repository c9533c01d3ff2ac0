"""Search through the local stack: messages written over REST and WebSocket reach the index
through the messages table's stream and the indexer function, as deployed; `GET /search`
answers by what the caller may see now (membership, private messages, edits, deletions)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable
from typing import Any

import boto3
import pytest
from botocore.config import Config

from chat.ids import new_id, now_iso
from tests.e2e.conftest import ROOT, LocalStackProcess, Rest, unique

PASSWORD = "correct horse battery"
WAIT = 20  # seconds: generous for a loaded machine (the figures are in bench/search.py)


@pytest.fixture(scope="module")
def rest(stack: LocalStackProcess) -> Rest:
    return Rest(stack.urls["rest"])


@pytest.fixture
def user(rest: Rest) -> Callable[[str], tuple[str, str]]:
    def _user(prefix: str) -> tuple[str, str]:
        username = unique(prefix)
        response = rest.post("/auth/register", {"username": username, "password": PASSWORD})
        assert response.status_code == 201, response.text
        return username, response.json()["access_token"]

    return _user


def _search(rest: Rest, token: str, q: str, **params: Any) -> Any:
    return rest.client.get(
        "/search", params={"q": q, **params}, headers={"Authorization": f"Bearer {token}"}
    )


def _contents(rest: Rest, token: str, q: str, **params: Any) -> list[str]:
    response = _search(rest, token, q, **params)
    assert response.status_code == 200, response.text
    return [message["content"] for message in response.json()["results"]]


def _eventually(rest: Rest, token: str, q: str, expected: list[str], **params: Any) -> None:
    deadline = time.monotonic() + WAIT
    while (found := _contents(rest, token, q, **params)) != expected:
        assert time.monotonic() < deadline, f"{q!r}: {found} instead of {expected}"
        time.sleep(0.1)


def _post(rest: Rest, token: str, room_id: str, content: str) -> dict[str, Any]:
    response = rest.post(f"/rooms/{room_id}/messages", {"content": content}, token=token)
    assert response.status_code == 201, response.text
    return response.json()


def test_messages_are_found_through_the_stream_and_membership_decides(
    rest: Rest, user, stack: LocalStackProcess
):
    # Given alice's room that bob joined, and carol's room neither is in
    _, alice = user("alice")
    bob_name, bob = user("bob")
    _, carol = user("carol")
    room = rest.post("/rooms", {"name": "launch"}, token=alice).json()
    other = rest.post("/rooms", {"name": "carol's"}, token=carol).json()
    assert rest.post("/rooms/join", {"code": room["code"]}, token=bob).status_code == 200
    word = unique("Rocket").replace("_", "")  # one word, this test's own
    # When alice writes, and carol writes in her own room
    _post(rest, alice, room["room_id"], f"The {word} launch is Tuesday")
    _post(rest, carol, other["room_id"], f"{word} launch is secret")
    # Then bob finds alice's message by any case, accent or prefix, and never carol's
    _eventually(rest, bob, word.upper(), [f"The {word} launch is Tuesday"])
    assert _contents(rest, bob, f"launch {word[:4].lower()}") == [f"The {word} launch is Tuesday"]
    assert _search(rest, bob, word, room_id=other["room_id"]).status_code == 404
    # When bob leaves, he finds nothing from the room; back in, he does again
    leave = rest.request("DELETE", f"/rooms/{room['room_id']}/members/me", token=bob)
    assert leave.status_code == 204
    assert _contents(rest, bob, word) == []
    assert _search(rest, bob, word, room_id=room["room_id"]).status_code == 404
    assert rest.post("/rooms/join", {"code": room["code"]}, token=bob).status_code == 200
    assert _contents(rest, bob, word) == [f"The {word} launch is Tuesday"]
    # When the owner removes him, nothing again
    removed = rest.request("DELETE", f"/rooms/{room['room_id']}/members/{bob_name}", token=alice)
    assert removed.status_code == 204
    assert _contents(rest, bob, word) == []


def test_edits_and_deletions_show_at_once_and_new_text_once_indexed(rest: Rest, user):
    _, alice = user("alice")
    room = rest.post("/rooms", {"name": "notes"}, token=alice).json()
    old, new = unique("harbour").replace("_", ""), unique("station").replace("_", "")
    message = _post(rest, alice, room["room_id"], f"meet at the {old}")
    _eventually(rest, alice, old, [f"meet at the {old}"])
    path = f"/rooms/{room['room_id']}/messages/{message['message_id']}"
    edited = rest.request("PATCH", path, {"content": f"meet at the {new}"}, token=alice)
    assert edited.status_code == 200
    assert _contents(rest, alice, old) == []  # at once: checked against the stored text
    _eventually(rest, alice, new, [f"meet at the {new}"])
    assert rest.request("DELETE", path, token=alice).status_code == 204
    assert _contents(rest, alice, new) == []


def test_a_private_message_is_found_by_its_viewer_only(rest: Rest, user, stack: LocalStackProcess):
    # Given a room of alice and bob, and a private command of bob's stored as the private
    # commands of the contract are (visible_to), written into the local stack's table
    _, alice = user("alice")
    bob_name, bob = user("bob")
    room = rest.post("/rooms", {"name": "private"}, token=alice).json()
    assert rest.post("/rooms/join", {"code": room["code"]}, token=bob).status_code == 200
    word = unique("roadmap").replace("_", "")
    _post(rest, alice, room["room_id"], f"the public {word}")  # text: no bot answer to find
    dynamodb = boto3.resource(
        "dynamodb",
        endpoint_url=stack.urls["aws"],
        region_name="us-east-1",
        aws_access_key_id="local",
        aws_secret_access_key="local",  # moto accepts any credentials
        config=Config(retries={"mode": "standard"}),
    )
    dynamodb.Table("e2e-MessagesTable").put_item(
        Item={
            "room_id": room["room_id"],
            "message_id": new_id(),
            "username": bob_name,
            "content": f"@bot private {word}",
            "message_type": "command",
            "is_bot": False,
            "created_at": now_iso(),
            "status": "complete",
            "visible_to": bob_name,
        }
    )
    _eventually(rest, bob, word, [f"@bot private {word}", f"the public {word}"])
    assert _contents(rest, alice, word) == [f"the public {word}"]
    assert _contents(rest, alice, f"private {word}") == []


def test_pages_across_rooms_newest_first(rest: Rest, user):
    _, alice = user("alice")
    rooms = [rest.post("/rooms", {"name": f"r{n}"}, token=alice).json() for n in range(3)]
    word = unique("standup").replace("_", "")
    posted = [
        _post(rest, alice, rooms[n % 3]["room_id"], f"{word} {n}")["message_id"] for n in range(7)
    ]
    _eventually(rest, alice, word, [f"{word} {n}" for n in range(6, -1, -1)], limit=50)
    seen, before = [], None
    while True:
        params: dict[str, Any] = {"limit": 3, **({"before": before} if before else {})}
        body = _search(rest, alice, word, **params).json()
        seen += [m["message_id"] for m in body["results"]]
        before = body["next_before"]
        if before is None:
            break
    assert seen == posted[::-1]


def test_the_terminal_client_searches_and_opens_a_result(
    rest: Rest, user, stack: LocalStackProcess
):
    username, token = user("dave")
    room = rest.post("/rooms", {"name": "changelog"}, token=token).json()
    word = unique("Release").replace("_", "")
    _post(rest, token, room["room_id"], "first things first")
    _post(rest, token, room["room_id"], f"The {word} notes are out")
    _eventually(rest, token, word, [f"The {word} notes are out"])
    script = f"/search {word.lower()[:9]}\n/goto 1\n/quit\n"
    result = subprocess.run(  # noqa: S603 - our own client
        [
            sys.executable, "-m", "terminal", "--rest-url", stack.urls["rest"],
            "--ws-url", stack.urls["ws"], "--username", username,
        ],
        input=script, capture_output=True, text=True, timeout=60, cwd=ROOT,
        env={**os.environ, "CHAT_PASSWORD": PASSWORD, "NO_COLOR": "1"},
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout
    assert "1. [changelog]" in out and f"The *{word}* notes are out" in out, out
    # /goto: the room opens with the messages up to the result
    assert out.index("— changelog") < out.index("first things first"), out
    assert out.rindex("first things first") < out.rindex(f"The {word} notes are out"), out
