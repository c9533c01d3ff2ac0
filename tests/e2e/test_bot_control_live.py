"""Bot control over the local stack of template.yaml and real sockets: a client that connects
mid-answer rebuilds it exactly (history + later frames, API.md's rule), a `bot_stop` frame
stops a slow answer of the fake Gemini, and a stopped answer is regenerated."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from terminal.answers import STORED_PREFIX_MAX_AGE, apply_frame
from tests.e2e.conftest import LocalStackProcess, Rest, Socket, unique

PASSWORD = "correct horse battery"
SLOW = "[fake:tokens=300,words=2,seconds=6]"


@pytest.fixture(scope="module")
def rest(stack: LocalStackProcess) -> Rest:
    return Rest(stack.urls["rest"])


@pytest.fixture
def sockets(stack: LocalStackProcess) -> Iterator[Callable[[str], Socket]]:
    opened: list[Socket] = []

    def _open(token: str) -> Socket:
        opened.append(Socket(f"{stack.urls['ws']}?token={token}"))
        return opened[-1]

    yield _open
    for socket in opened:
        socket.close()


@pytest.fixture
def room(rest: Rest) -> dict[str, Any]:
    """alice's room (with a key for the fake Gemini) that bob joined."""
    tokens = {}
    for name in ("alice", "bob"):
        body = {"username": unique(name), "password": PASSWORD}
        registered = rest.post("/auth/register", body)
        assert registered.status_code == 201, registered.text
        tokens[name] = registered.json()["access_token"]
    created = rest.post(
        "/rooms", {"name": "bot control", "gemini_api_key": "AIzaE2E-key"}, token=tokens["alice"]
    )
    assert created.status_code == 201, created.text
    joined = rest.post("/rooms/join", {"code": created.json()["code"]}, token=tokens["bob"])
    assert joined.status_code == 200, joined.text
    return {"room_id": created.json()["room_id"], "tokens": tokens}


def joined(open_socket: Callable[[str], Socket], token: str, room_id: str) -> Socket:
    socket = open_socket(token)
    socket.send(type="join", room_id=room_id)
    socket.wait_for_type("joined", room_id=room_id)
    return socket


def stream(socket: Socket, reply_id: str) -> list[dict[str, Any]]:
    return [
        frame
        for frame in list(socket.frames)
        if isinstance(frame, dict)
        and frame.get("type") == "bot_stream"
        and frame["message_id"] == reply_id
    ]


def stored(rest: Rest, room: dict[str, Any], message_id: str) -> dict[str, Any]:
    history = rest.get(f"/rooms/{room['room_id']}/messages", token=room["tokens"]["bob"])
    (message,) = [m for m in history.json()["messages"] if m["message_id"] == message_id]
    return message


def test_a_client_connecting_mid_answer_rebuilds_it_exactly(rest: Rest, room, sockets) -> None:
    alice = joined(sockets, room["tokens"]["alice"], room["room_id"])
    alice.send(type="message", room_id=room["room_id"], content=f"@bot a story {SLOW}")
    first = alice.wait_for_type("bot_stream", timeout=30)
    reply_id = first["message_id"]
    alice.wait_for(lambda f: isinstance(f, dict) and f.get("seq", 0) >= 5, what="more chunks")

    # bob connects mid-answer, subscribes, then reads the stored copy (now, and once more
    # after its maximum age, when it surely covers every frame sent before bob joined)
    bob = joined(sockets, room["tokens"]["bob"], room["room_id"])
    early = stored(rest, room, reply_id)
    time.sleep(STORED_PREFIX_MAX_AGE)
    late = stored(rest, room, reply_id)
    final = bob.wait_for_type("bot_stream", timeout=30, message_id=reply_id, is_complete=True)
    # alice's copy of the final frame may still be on its way when bob has his
    alice.wait_for_type("bot_stream", timeout=30, message_id=reply_id, is_complete=True)

    assert early["status"] == "streaming" and late["status"] == "streaming"
    frames = [f for f in stream(bob, reply_id) if not f["is_complete"]]
    assert frames and frames[0]["seq"] > 0  # bob missed the start
    text: str | None = late["content"]
    for frame in frames:
        text = apply_frame(text, frame) if text is not None else None
    assert text == final["full_response"]
    # alice saw every frame: seq 0, 1, 2 … and offsets in code points, one final frame
    seen = stream(alice, reply_id)
    assert [f["seq"] for f in seen] == list(range(len(seen)))
    assert [f["offset"] for f in seen] == [
        len("".join(f["chunk"] for f in seen[:i])) for i in range(len(seen))
    ]
    assert [f["is_complete"] for f in seen].count(True) == 1
    assert stored(rest, room, reply_id)["content"] == final["full_response"]


def test_a_bot_stop_frame_stops_a_slow_answer_which_is_then_regenerated(
    rest: Rest, room, sockets
) -> None:
    alice = joined(sockets, room["tokens"]["alice"], room["room_id"])
    bob = joined(sockets, room["tokens"]["bob"], room["room_id"])
    alice.send(type="message", room_id=room["room_id"], content=f"@bot go {SLOW}", client_id="c1")
    command = alice.wait_for_type("message", client_id="c1")
    reply_id = bob.wait_for_type("bot_stream", timeout=30)["message_id"]

    # bob stops it by the command's id
    bob.send(type="bot_stop", room_id=room["room_id"], message_id=command["message_id"])

    final = alice.wait_for_type("bot_stream", timeout=10, message_id=reply_id, is_complete=True)
    assert final["stopped"] is True
    chunks = [f["chunk"] for f in stream(alice, reply_id) if not f["is_complete"]]
    assert "".join(chunks) == final["full_response"]
    assert len(final["full_response"]) < 1500  # far from the whole answer
    message = stored(rest, room, reply_id)
    assert (message["status"], message["content"]) == ("stopped", final["full_response"])
    assert [f for f in bob.frames if isinstance(f, dict) and f.get("type") == "error"] == []
    # stopping it again is a conflict
    again = rest.post(
        f"/rooms/{room['room_id']}/messages/{reply_id}/stop", token=room["tokens"]["alice"]
    )
    assert again.status_code == 409 and again.json()["error"]["code"] == "conflict"

    # alice regenerates it: a new answer to the same command; the stopped one stays
    regenerated = rest.post(
        f"/rooms/{room['room_id']}/messages/{reply_id}/regenerate", token=room["tokens"]["alice"]
    )
    assert regenerated.status_code == 202, regenerated.text
    assert regenerated.json() == {"command_id": command["message_id"]}
    second = bob.wait_for(
        lambda f: (
            isinstance(f, dict)
            and f.get("type") == "bot_stream"
            and f["message_id"] != reply_id
            and f["reply_to"] == command["message_id"]
        ),
        timeout=30,
        what="the regenerated answer",
    )
    # and stops that one too, over REST this time
    stopped = rest.post(
        f"/rooms/{room['room_id']}/messages/{second['message_id']}/stop",
        token=room["tokens"]["bob"],
    )
    assert stopped.status_code == 202, stopped.text
    end = bob.wait_for_type(
        "bot_stream", timeout=10, message_id=second["message_id"], is_complete=True
    )
    assert end["stopped"] is True
    assert stored(rest, room, reply_id)["status"] == "stopped"  # the first one stays
