"""Several bots in a room through the local stack: the worker answers each command as the
bot it names, calling the fake Gemini with the real google-genai SDK; what each bot is
given (the fake's `[fake:context]`), private commands seen by their author only, and a
summary of what someone missed."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.e2e.conftest import LocalStackProcess, Rest, Socket, unique

PASSWORD = "correct horse battery"
WAIT = 30  # seconds: generous for a loaded machine


@pytest.fixture(scope="module")
def rest(stack: LocalStackProcess) -> Rest:
    return Rest(stack.urls["rest"])


@pytest.fixture
def pair(rest: Rest, stack: LocalStackProcess) -> Iterator[dict[str, Any]]:
    """Two people in a new room, each with a joined socket; the first owns it."""
    people: dict[str, Any] = {}
    for role in ("owner", "guest"):
        name = unique(role)
        token = rest.post("/auth/register", {"username": name, "password": PASSWORD}).json()[
            "access_token"
        ]
        people[role] = {"name": name, "token": token}
    room = rest.post("/rooms", {"name": "bots"}, token=people["owner"]["token"]).json()
    joined = rest.post("/rooms/join", {"code": room["code"]}, token=people["guest"]["token"])
    assert joined.status_code == 200
    for person in people.values():
        person["socket"] = Socket(f"{stack.urls['ws']}?token={person['token']}")
        person["socket"].send(type="join", room_id=room["room_id"])
        person["socket"].wait_for_type("joined", room_id=room["room_id"])
    yield {"room_id": room["room_id"], **people}
    for person in people.values():
        person["socket"].close()


def post(rest: Rest, pair: dict[str, Any], who: str, content: str, **fields: Any):
    response = rest.post(
        f"/rooms/{pair['room_id']}/messages",
        {"content": content, **fields},
        token=pair[who]["token"],
    )
    assert response.status_code == 201, response.text
    return response.json()


def end_of(socket: Socket, reply_to: str) -> dict[str, Any]:
    return socket.wait_for(
        lambda f: (
            isinstance(f, dict)
            and f.get("reply_to") == reply_to
            and (
                f.get("type") == "bot_error" or (f.get("type") == "bot_stream" and f["is_complete"])
            )
        ),
        timeout=WAIT,
        what="the end of the answer",
    )


def test_two_named_bots_answer_as_themselves_and_see_each_other_by_name(rest: Rest, pair) -> None:
    owner, room_id = pair["owner"], pair["room_id"]
    reviewer, planner = unique("rev"), unique("plan")
    for name in (reviewer, planner):
        created = rest.post(f"/rooms/{room_id}/bots", {"name": name}, token=owner["token"])
        assert created.status_code == 201, created.text
    members = rest.get(f"/rooms/{room_id}/members", token=owner["token"]).json()["members"]
    assert {m["username"] for m in members if m["role"] == "bot"} == {"bot", reviewer, planner}

    first = post(rest, pair, "guest", f"@{reviewer.upper()} check this [fake:text=Looks right]")
    end = end_of(pair["guest"]["socket"], first["message_id"])
    assert end["username"] == reviewer and end["full_response"] == "Looks right"

    asked = post(rest, pair, "owner", f"@{planner} what did they say? [fake:context]")
    end = end_of(pair["owner"]["socket"], asked["message_id"])
    assert end["username"] == planner
    assert end["full_response"].splitlines() == [
        f"{pair['guest']['name']}: @{reviewer} check this [fake:text=Looks right]",
        f"{reviewer}: Looks right",
        f"{owner['name']}: @{planner} what did they say? [fake:context]",
    ]
    # a name nobody has in this room is plain text
    assert post(rest, pair, "owner", "@nobody_here hi")["message_type"] == "text"


def test_a_private_command_reaches_its_author_only(rest: Rest, pair) -> None:
    command = post(rest, pair, "guest", "@bot for me only [fake:text=secret answer]", private=True)
    assert command["visible_to"] == pair["guest"]["name"]
    end = end_of(pair["guest"]["socket"], command["message_id"])
    assert end["full_response"] == "secret answer"
    # the owner's socket saw nothing of it, and their history holds none of it
    marker = post(rest, pair, "owner", "after the secret")
    pair["owner"]["socket"].wait_for_type("message", message_id=marker["message_id"])
    assert not [
        f
        for f in pair["owner"]["socket"].frames
        if isinstance(f, dict) and command["message_id"] in (f.get("message_id"), f.get("reply_to"))
    ]
    history = rest.get(f"/rooms/{pair['room_id']}/messages", token=pair["owner"]["token"]).json()
    assert [m["content"] for m in history["messages"]] == ["after the secret"]


def test_a_summary_of_what_the_guest_missed(rest: Rest, pair) -> None:
    post(rest, pair, "owner", "we deploy on Friday")
    post(rest, pair, "owner", "guest, please check the logs")

    queued = rest.post(f"/rooms/{pair['room_id']}/summary", {}, token=pair["guest"]["token"])

    assert queued.status_code == 202, queued.text
    command_id = queued.json()["command_id"]
    end = end_of(pair["guest"]["socket"], command_id)
    assert end["type"] == "bot_stream" and end["full_response"]
    history = rest.get(f"/rooms/{pair['room_id']}/messages", token=pair["owner"]["token"]).json()
    assert command_id not in {m["message_id"] for m in history["messages"]}
    assert rest.post(
        f"/rooms/{pair['room_id']}/summary",
        {"since": end["message_id"]},
        token=pair["guest"]["token"],
    ).status_code == (409)
