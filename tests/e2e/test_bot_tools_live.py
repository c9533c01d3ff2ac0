"""The bot's tools, usage and budget through the local stack: the worker calls the fake
Gemini with the real google-genai SDK; room_search runs the search the indexer keeps (the
messages table's stream, as deployed); sources, tool calls and usage reach the room's
sockets and history; a budget stops the next command before the model is called."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from chat.ids import now_iso
from tests.e2e.conftest import LocalStackProcess, Rest, Socket, unique

PASSWORD = "correct horse battery"
WAIT = 30  # seconds: generous for a loaded machine


@pytest.fixture(scope="module")
def rest(stack: LocalStackProcess) -> Rest:
    return Rest(stack.urls["rest"])


@pytest.fixture
def room(rest: Rest, stack: LocalStackProcess) -> Iterator[Callable[..., dict[str, Any]]]:
    """room(tools, **settings) -> {"room_id", "token", "socket"}: a new owner's room with
    the bot set so, the owner's socket joined."""
    sockets: list[Socket] = []

    def _room(tools: list[str], **settings: Any) -> dict[str, Any]:
        name = unique("tools")
        registered = rest.post("/auth/register", {"username": name, "password": PASSWORD})
        token = registered.json()["access_token"]
        room_id = rest.post("/rooms", {"name": "tools"}, token=token).json()["room_id"]
        body = {"tools": tools, **settings}
        changed = rest.request("PUT", f"/rooms/{room_id}/bot", body, token=token)
        assert changed.status_code == 200, changed.text
        socket = Socket(f"{stack.urls['ws']}?token={token}")
        sockets.append(socket)
        socket.send(type="join", room_id=room_id)
        socket.wait_for_type("joined", room_id=room_id)
        return {"room_id": room_id, "token": token, "socket": socket}

    yield _room
    for socket in sockets:
        socket.close()


def post(rest: Rest, room: dict[str, Any], content: str) -> dict[str, Any]:
    response = rest.post(
        f"/rooms/{room['room_id']}/messages", {"content": content}, token=room["token"]
    )
    assert response.status_code == 201, response.text
    return response.json()


def answer_to(room: dict[str, Any], command: dict[str, Any]) -> dict[str, Any]:
    """The final frame (or the error) of the bot's answer to ``command``."""
    return room["socket"].wait_for(
        lambda f: (
            isinstance(f, dict)
            and f.get("reply_to") == command["message_id"]
            and (
                f.get("type") == "bot_error" or (f.get("type") == "bot_stream" and f["is_complete"])
            )
        ),
        timeout=WAIT,
        what="the end of the answer",
    )


def stored(rest: Rest, room: dict[str, Any], message_id: str) -> dict[str, Any]:
    history = rest.get(f"/rooms/{room['room_id']}/messages", token=room["token"]).json()
    return next(m for m in history["messages"] if m["message_id"] == message_id)


def test_a_room_search_command_finds_an_older_message(rest: Rest, room) -> None:
    # Given a room whose bot may search it, and an older message the search has indexed
    tooled = room(["room_search"])
    older = post(rest, tooled, "the launch code is tulip")
    deadline = time.monotonic() + WAIT
    while not rest.client.get(
        "/search",
        params={"q": "tulip", "room_id": tooled["room_id"]},
        headers={"Authorization": f"Bearer {tooled['token']}"},
    ).json()["results"]:
        assert time.monotonic() < deadline, "the message was never indexed"
        time.sleep(0.2)
    # When someone asks the bot, and the model searches the room first
    command = post(
        rest, tooled, "@bot what was the code? [fake:tool=room_search,query=launch code]"
    )
    # Then the answer lists what the search found, and records the search
    end = answer_to(tooled, command)
    assert end["type"] == "bot_stream", end
    assert end["full_response"] == f"{older['message_id']}: the launch code is tulip"
    assert end["tool_calls"] == [{"tool": "room_search", "query": "launch code"}]
    assert end["sources"] == []
    reply = stored(rest, tooled, end["message_id"])
    assert reply["tool_calls"] == end["tool_calls"] and reply["content"] == end["full_response"]


def test_a_grounded_answer_brings_its_sources(rest: Rest, room) -> None:
    tooled = room(["web_search"])
    command = post(rest, tooled, "@bot what's new in python? [fake:sources=2]")
    end = answer_to(tooled, command)
    sources = [
        {"title": f"Fake page {n}", "url": f"https://example.com/fake-page-{n}"} for n in (1, 2)
    ]
    assert end["sources"] == sources
    assert end["tool_calls"] == [{"tool": "web_search", "query": "what's new in python?"}]
    assert stored(rest, tooled, end["message_id"])["sources"] == sources


def test_usage_is_summed_and_a_budget_stops_the_next_command(rest: Rest, room) -> None:
    # Given a bot with a budget of 100 tokens a month
    tooled = room([], monthly_token_budget=100)
    # When two answers report 60 + 50 tokens
    for content in ("@bot one [fake:usage=50/10]", "@bot two [fake:usage=40/10]"):
        end = answer_to(tooled, post(rest, tooled, content))
        assert end["type"] == "bot_stream", end
    # Then the room's usage sums them, and each answer shows its own
    usage = rest.get(f"/rooms/{tooled['room_id']}/usage", token=tooled["token"]).json()
    assert usage == {
        "month": now_iso()[:7],
        "bots": [{"name": "bot", "answers": 2, "input_tokens": 90, "output_tokens": 20}],
    }
    assert stored(rest, tooled, end["message_id"])["usage"] == {
        "input_tokens": 40,
        "output_tokens": 10,
    }
    # And the next command is refused before the model is called
    refused = answer_to(tooled, post(rest, tooled, "@bot three"))
    assert refused["type"] == "bot_error" and refused["code"] == "budget_exceeded"
    after = rest.get(f"/rooms/{tooled['room_id']}/usage", token=tooled["token"]).json()
    assert after["bots"][0]["answers"] == 2
