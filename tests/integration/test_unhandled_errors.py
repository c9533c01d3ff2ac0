"""Failures the transports answer themselves never reach Lambda's Errors metric: a REST
500, an `internal` error frame. Each is counted where it is mapped (UnhandledErrors for an
exception nothing expected, FrameFailures for every frame that failed on our side), and
those counts are what the alarms read (template.yaml)."""

from __future__ import annotations

import pytest

from chat.errors import NotFound, Unavailable
from chat.logic.accounts import sign_in
from chat.logic.realtime import presence
from tests.support.metrics import total as _total


def _raise(error: Exception):
    def fail(*_args, **_kwargs):
        raise error

    return fail


def test_an_unexpected_rest_error_is_a_500_counted_as_unhandled(
    rest, register, monkeypatch, capsys
):
    token = register("alice")
    monkeypatch.setattr(sign_in, "me", _raise(RuntimeError("a bug")))
    capsys.readouterr()
    result = rest.get("/auth/me", token=token)
    assert (result.status, result.error_code) == (500, "internal")
    assert "a bug" not in result.body["error"]["message"]
    assert _total(capsys.readouterr().out, "UnhandledErrors") == 1


@pytest.mark.parametrize("error", [NotFound("User not found"), Unavailable()])
def test_a_domain_error_is_answered_by_its_code_and_not_counted_as_unhandled(
    error, rest, register, monkeypatch, capsys
):
    token = register("alice")
    monkeypatch.setattr(sign_in, "me", _raise(error))
    capsys.readouterr()
    result = rest.get("/auth/me", token=token)
    assert result.error_code == error.code
    assert _total(capsys.readouterr().out, "UnhandledErrors") == 0


@pytest.mark.parametrize(("error", "unhandled"), [(RuntimeError("a bug"), 1), (Unavailable(), 0)])
def test_a_frame_that_fails_on_our_side_is_counted(
    error, unhandled, room_with, connect, monkeypatch, capsys
):
    room, tokens = room_with("alice")
    alice = connect(tokens["alice"])
    monkeypatch.setattr(presence, "join", _raise(error))
    capsys.readouterr()
    assert alice.send({"type": "join", "room_id": room["room_id"]}) == 200
    assert [e["code"] for e in alice.frames("error")] == ["internal"]
    output = capsys.readouterr().out
    assert _total(output, "FrameFailures") == 1
    assert _total(output, "UnhandledErrors") == unhandled


def test_a_frame_refused_for_the_clients_reason_is_not_a_failure(room_with, connect, capsys):
    _, tokens = room_with("alice")
    alice = connect(tokens["alice"])
    capsys.readouterr()
    alice.send({"type": "join", "room_id": "no-such-room"})
    assert [e["code"] for e in alice.frames("error")] == ["not_found"]
    output = capsys.readouterr().out
    assert _total(output, "FrameFailures") == 0 and _total(output, "UnhandledErrors") == 0
