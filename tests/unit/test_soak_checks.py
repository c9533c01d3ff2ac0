"""bench/soak.py's judgement, on made-up runs: what the clients saw against the rooms'
history. A clean run passes; a message acknowledged but not stored, one stored twice, a push
missed by a connected session, one delivered twice, an answer left streaming each fail it."""

from __future__ import annotations

import time
from argparse import Namespace
from typing import Any

from bench import soak

ROOM = "room-1"
T0 = time.time() - 600


def _iso(at: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(at)) + f".{int(at * 1000) % 1000:03d}Z"


def _message(message_id: str, at: float, user: str = "ann", **extra: Any) -> dict[str, Any]:
    return {
        "message_id": message_id,
        "room_id": ROOM,
        "username": user,
        "content": f"{user} says {message_id}",
        "message_type": "text",
        "is_bot": False,
        "created_at": _iso(at),
        "client_id": f"c-{message_id}",
        "reply_to": None,
        "status": "complete",
        "reactions": [],
        **extra,
    }


def _run(histories: dict[str, list[dict[str, Any]]]) -> soak.Run:
    """Two users of one room, one session each joined for the whole run, each of which got
    every message of the history once; ann sent every text message and had it acked."""
    run = soak.Run(None, {"rest": "", "ws": ""}, Namespace(minutes=1.0))  # type: ignore[arg-type]
    run.started_at = T0
    for name in ("ann", "bob"):
        user = soak.User(name, room_id=ROOM)
        session = soak.Session(name, 0, opened_at=T0 - 5, joined_at=T0 - 4, closed_by="end")
        session.closed_at = time.time()
        for message in histories[ROOM]:
            session.messages[message["message_id"]] += 1
            user.see(message["message_id"])
        user.sessions.append(session)
        run.users.append(user)
    for message in histories[ROOM]:
        if not message["client_id"]:
            continue
        send = soak.Send(message["client_id"], "ann", ROOM, message["content"], False)
        send.attempts, send.acked, send.outcome = ["ack"], [message["message_id"]], "acked"
        run.sends[send.client_id] = send
    return run


def _history() -> dict[str, list[dict[str, Any]]]:
    return {ROOM: [_message(f"m{n}", T0 + 30 + n) for n in range(5)]}


def _failures(run: soak.Run, histories: dict[str, list[dict[str, Any]]]) -> dict[str, int]:
    findings = soak.check(run, histories, soak.Memory())
    return {kind: findings.counts[kind] for kind in soak.FAILURES if findings.counts[kind]}


def test_a_clean_run_passes() -> None:
    histories = _history()
    assert _failures(_run(histories), histories) == {}


def test_an_acknowledged_message_missing_from_the_history_is_lost() -> None:
    histories = _history()
    run = _run(histories)
    del histories[ROOM][2]
    assert _failures(run, histories) == {"lost": 1}


def test_a_retried_send_stored_twice_is_found() -> None:
    histories = _history()
    run = _run(histories)
    copy = _message("m9", T0 + 40, client_id="c-m1")
    histories[ROOM].append(copy)
    for user in run.users:  # delivered and seen like any other
        user.sessions[0].messages["m9"] += 1
        user.see("m9")
    assert _failures(run, histories) == {"stored twice": 1}


def test_a_push_a_connected_session_never_got_is_missed_live_and_a_double_is_duplicated() -> None:
    histories = _history()
    run = _run(histories)
    bob = run.users[1].sessions[0]
    bob.messages["m1"] = 0  # never pushed to bob (he saw it by catching up)
    bob.messages["m3"] = 2  # pushed twice
    assert _failures(run, histories) == {"missed live": 1, "duplicated": 1}


def test_an_answer_left_streaming_and_a_command_never_answered_fail() -> None:
    histories = _history()
    histories[ROOM] += [
        _message("m7", T0 + 50, message_type="command", content="@bot hi", client_id=None),
        _message("m8", T0 + 51, message_type="command", content="@bot two", client_id=None),
        _message(
            "m9", T0 + 52, "bot", is_bot=True, message_type="bot", reply_to="m7",
            status="streaming", client_id=None,
        ),
    ]  # fmt: skip
    run = _run(histories)
    for user in run.users:
        user.sessions[0].bot.add("m9")
    assert _failures(run, histories) == {
        "answers stuck streaming": 1,
        "commands never answered": 1,
    }
