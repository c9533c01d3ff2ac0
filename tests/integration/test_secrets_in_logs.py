"""Passwords and Gemini keys never reach a log line, even at DEBUG."""

from __future__ import annotations

import logging


def test_debug_logging_never_shows_passwords_or_api_keys(rest, register, caplog, capsys):
    password = "pw-canary-0123456789"
    api_key = "AIza-key-canary-0123456789"
    caplog.set_level(logging.DEBUG)
    for name in ("aws_lambda_powertools", "chat", ""):
        logging.getLogger(name).setLevel(logging.DEBUG)
    rest.post("/auth/register", {"username": "alice", "password": password})
    token = rest.post("/auth/login", {"username": "alice", "password": password}).body[
        "access_token"
    ]
    room = rest.post("/rooms", {"name": "keyed", "gemini_api_key": api_key}, token=token).body
    rest.put(f"/rooms/{room['room_id']}/bot", {"gemini_api_key": api_key}, token=token)
    rest.post("/auth/login", {"username": "alice", "password": password + "-wrong"})
    logged = caplog.text + capsys.readouterr().out
    assert "keyed" in logged or "/rooms" in logged  # DEBUG logging did capture the requests
    assert password not in logged
    assert api_key not in logged
