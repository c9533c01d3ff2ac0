"""A big room over the local stack of template.yaml and real sockets: with the shard
threshold lowered by parameter, a room of 120 sockets is big, so a sender reads only the
room's first page and its frames go in ranges of subscription slots through the fan-out
queue and FanoutFunction (docs/big-rooms.md). Every socket gets every message, and
every frame of a bot answer, exactly once."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.conftest import LocalStackProcess, Rest, Socket, unique

PASSWORD = "correct horse battery"
USERS, SOCKETS_EACH = 10, 12  # 120 sockets
THRESHOLD, SHARD_SIZE = 10, 10  # so a frame to the room is 8 to 32 shards (16 mostly)


@pytest.fixture(scope="module")
def big_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStackProcess]:
    stack = LocalStackProcess(
        Path(tmp_path_factory.mktemp("big-room")),
        extra_args=[
            f"FanoutShardThreshold={THRESHOLD}",
            f"FanoutShardSize={SHARD_SIZE}",
            # few workers per function: fewer cold starts at once on a busy machine
            "--concurrency",
            "3",
        ],
    ).wait_ready()
    yield stack
    stack.stop()


@pytest.fixture(scope="module")
def crowd(big_stack: LocalStackProcess) -> Iterator[dict[str, Any]]:
    """A room of USERS people with SOCKETS_EACH sockets each, all joined to it."""
    rest = Rest(big_stack.urls["rest"])
    tokens = []
    for index in range(USERS):
        body = {"username": unique(f"fan{index}"), "password": PASSWORD}
        registered = rest.post("/auth/register", body)
        assert registered.status_code == 201, registered.text
        tokens.append(registered.json()["access_token"])
    created = rest.post("/rooms", {"name": "stadium", "gemini_api_key": "AIzaE2E"}, token=tokens[0])
    assert created.status_code == 201, created.text
    room = created.json()
    for token in tokens[1:]:
        assert rest.post("/rooms/join", {"code": room["code"]}, token=token).status_code == 200

    def open_joined(token: str) -> Socket:
        socket = Socket(f"{big_stack.urls['ws']}?token={token}")
        socket.send(type="join", room_id=room["room_id"])
        socket.wait_for_type("joined", timeout=60, room_id=room["room_id"])
        return socket

    every = [t for t in tokens for _ in range(SOCKETS_EACH)]
    sockets = [open_joined(every[0])]  # warms the functions up
    with ThreadPoolExecutor(max_workers=3) as pool:
        sockets += list(pool.map(open_joined, every[1:]))
    yield {"room": room, "tokens": tokens, "sockets": sockets, "rest": rest}
    for socket in sockets:
        socket.close()


def test_a_message_to_a_room_above_the_threshold_reaches_every_socket_once(crowd):
    room, sockets = crowd["room"], crowd["sockets"]
    for index in range(3):
        sender = sockets[index * SOCKETS_EACH]  # three people's first sockets
        content = unique("hello big room")
        sender.send(type="message", room_id=room["room_id"], content=content)
        for socket in sockets:
            socket.wait_for_type("message", timeout=60, content=content)
        for socket in sockets:
            same = [
                f for f in socket.frames if f.get("type") == "message" and f["content"] == content
            ]
            assert len(same) == 1


def test_a_bot_answer_in_a_big_room_reaches_every_socket_whole(crowd):
    room, sockets, rest = crowd["room"], crowd["sockets"], crowd["rest"]
    posted = rest.post(
        f"/rooms/{room['room_id']}/messages",
        {"content": "@bot [fake:tokens=30,seconds=2] tell the stadium"},
        token=crowd["tokens"][1],
    )
    assert posted.status_code == 201, posted.text
    command_id = posted.json()["message_id"]
    finals = [
        socket.wait_for_type("bot_stream", timeout=90, reply_to=command_id, is_complete=True)
        for socket in sockets
    ]
    answer = finals[0]["full_response"]
    assert answer and all(f["full_response"] == answer for f in finals)
    for socket in sockets:
        chunks = [
            f
            for f in socket.frames
            if f.get("type") == "bot_stream"
            and f["reply_to"] == command_id
            and not f["is_complete"]
        ]
        assert [f["seq"] for f in chunks] == list(range(len(chunks)))  # each once, in order
        assert "".join(f["chunk"] for f in chunks) == answer
