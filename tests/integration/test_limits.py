"""The contract's limits (docs/API.md): sliding windows, failed
logins per username and per address, room creations per user, bot commands per user
across rooms. Each limit comes from the environment the template gives the functions."""

from __future__ import annotations

import pytest

from chat.config import settings
from chat.dal import rate_limits as dal_limits


@pytest.fixture
def limit(monkeypatch):
    """limit(NAME=value, ...) sets limits as the template would, for this test."""

    def _limit(**values: int) -> None:
        for name, value in values.items():
            monkeypatch.setenv(name, str(value))
        settings.cache_clear()

    yield _limit
    settings.cache_clear()


def _login(rest, username, password, ip="203.0.113.7"):
    return rest.post("/auth/login", {"username": username, "password": password}, source_ip=ip)


# ------------------------------------------------------------------------------ class 7
def test_failed_logins_lock_the_username_even_for_the_right_password(rest, register, limit):
    limit(LOGIN_FAILURES_PER_USERNAME=3)
    register("alice", "right password")
    register("bob", "bobs password")
    assert [_login(rest, "alice", f"wrong {i}").status for i in range(3)] == [401] * 3
    locked = _login(rest, "ALICE", "right password")
    assert locked.status == 429, locked.body
    assert locked.error_code == "rate_limited"
    assert 1 <= int(locked.headers["retry-after"]) <= 900
    # Another username from the same address is not locked.
    assert _login(rest, "bob", "bobs password").status == 200


def test_failed_logins_are_limited_per_client_address(rest, register, limit):
    limit(LOGIN_FAILURES_PER_ADDRESS=4)
    register("carol", "carols password")
    for i in range(4):
        assert _login(rest, f"nobody{i}", "whatever", ip="198.51.100.1").status == 401
    refused = _login(rest, "carol", "carols password", ip="198.51.100.1")
    assert refused.status == 429, refused.body
    assert "retry-after" in refused.headers
    assert _login(rest, "carol", "carols password", ip="198.51.100.2").status == 200


def test_successful_logins_are_not_counted(rest, register, limit):
    limit(LOGIN_FAILURES_PER_USERNAME=2, LOGIN_FAILURES_PER_ADDRESS=2)
    register("dave", "daves password")
    for _ in range(5):
        assert _login(rest, "dave", "daves password").status == 200


# ------------------------------------------------------------------------------ class 6
def test_room_creations_are_limited_per_user(rest, register, limit):
    limit(ROOM_CREATIONS_PER_USER_PER_HOUR=3)
    alice, bob = register("alice"), register("bob")
    statuses = [rest.post("/rooms", {"name": f"r{i}"}, token=alice).status for i in range(4)]
    assert statuses == [201, 201, 201, 429]
    assert rest.post("/rooms", {"name": "mine"}, token=bob).status == 201


def test_bot_commands_are_limited_per_user_across_rooms(rest, register, limit):
    limit(BOT_USER_TOTAL_COMMANDS_PER_MINUTE=3)
    alice = register("alice")
    rooms = [rest.post("/rooms", {"name": f"r{i}"}, token=alice).body["room_id"] for i in range(4)]
    statuses = [
        rest.post(f"/rooms/{room_id}/messages", {"content": "@bot hi"}, token=alice).status
        for room_id in rooms
    ]
    assert statuses == [201, 201, 201, 429]
    limited = rest.post(f"/rooms/{rooms[0]}/messages", {"content": "@bot again"}, token=alice)
    assert limited.error_code == "rate_limited"
    assert 1 <= int(limited.headers["retry-after"]) <= 60


def test_the_default_limits_let_a_person_create_a_handful_of_rooms_and_users(rest, register):
    tokens = [register(f"tester{i}") for i in range(12)]
    for i in range(8):
        assert rest.post("/rooms", {"name": f"room {i}"}, token=tokens[0]).status == 201
    for i in range(5):
        assert _login(rest, f"tester{i}", "a typo").status == 401
    assert _login(rest, "tester0", "correct horse battery").status == 200


class Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def time(self) -> float:
        return self.now


def test_the_window_slides_so_a_burst_at_a_boundary_does_not_get_double(stack, monkeypatch):
    clock = Clock(1_800_000_000.0 - 1)  # one second before a whole minute
    monkeypatch.setattr(dal_limits, "time", clock)
    assert [dal_limits.hit("k", 3, 60) for _ in range(3)] == [None, None, None]
    clock.now += 2  # the next minute: a fixed window would start again from zero
    retry_after = dal_limits.hit("k", 3, 60)
    assert retry_after is not None and 50 <= retry_after <= 60
    clock.now += 60  # a whole window after the burst
    assert dal_limits.hit("k", 3, 60) is None


def test_old_hits_leave_the_window_gradually(stack, monkeypatch):
    clock = Clock(1_800_000_000.0)
    monkeypatch.setattr(dal_limits, "time", clock)
    assert dal_limits.hit("k", 2, 60) is None
    clock.now += 30
    assert dal_limits.hit("k", 2, 60) is None
    clock.now += 1
    assert dal_limits.hit("k", 2, 60) is not None  # both earlier hits are in the window
    clock.now += 30  # the first hit has left; the second and the refused one remain
    assert dal_limits.hit("k", 3, 60) is None


def test_a_reserved_use_counts_until_released_and_a_refused_one_counts_nothing(stack):
    from chat.dal.tables import table

    def counted() -> int:
        item = table("rate_limits").get_item(Key={"pk": "login#k"}, ConsistentRead=True)["Item"]
        return sum(int(value) for name, value in item.items() if name[1:].isdigit())

    first = dal_limits.reserve("login#k", 2, 60)
    second = dal_limits.reserve("login#k", 2, 60)
    assert isinstance(first, dal_limits.Reservation) and isinstance(second, dal_limits.Reservation)
    # Full: refused, and the refusal is taken back (else waiting could never end it)
    refusals = [dal_limits.reserve("login#k", 2, 60) for _ in range(3)]
    assert all(isinstance(r, int) and 1 <= r <= 60 for r in refusals), refusals
    assert counted() == 2
    dal_limits.release(second)  # e.g. the right password: not a failure
    assert counted() == 1
    assert isinstance(dal_limits.reserve("login#k", 2, 60), dal_limits.Reservation)
    assert isinstance(dal_limits.reserve("login#k", 2, 60), int)


# ------------------------------------------------------------------------------ registrations
def _register(rest, username, ip):
    body = {"username": username, "password": "a good password"}
    return rest.post("/auth/register", body, source_ip=ip)


def test_registrations_are_limited_per_client_address(rest, limit):
    # Given an address that already registered as many accounts as the hour allows
    limit(REGISTRATIONS_PER_ADDRESS_PER_HOUR=3)
    assert [_register(rest, f"user{i}", "192.0.2.10").status for i in range(3)] == [201] * 3
    # When it registers one more
    refused = _register(rest, "user3", "192.0.2.10")
    # Then it is refused before any password is hashed, with when to try again
    assert refused.status == 429, refused.body
    assert refused.error_code == "rate_limited"
    assert 1 <= int(refused.headers["retry-after"]) <= 3600
    assert (
        rest.post("/auth/login", {"username": "user3", "password": "a good password"}).status == 401
    )
    # while another address still registers
    assert _register(rest, "user3", "192.0.2.11").status == 201


def test_refused_registrations_count_too(rest, limit):
    limit(REGISTRATIONS_PER_ADDRESS_PER_HOUR=2)
    assert _register(rest, "taken", "192.0.2.20").status == 201
    assert _register(rest, "taken", "192.0.2.20").status == 409  # hashed, then refused
    assert _register(rest, "fresh", "192.0.2.20").status == 429
