"""Data integrity under concurrency: conditional writes, never read-then-write."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from threading import Barrier

import pytest
from moto.core.botocore_stubber import BotocoreStubber

from chat.dal.rooms import list_members
from tests.support.clients import RestClient

N = 20


@pytest.fixture(autouse=True)
def atomic_moto_requests(monkeypatch):
    """Make each moto request atomic, as each DynamoDB request is. moto's backend is not
    thread-safe (its TransactWriteItems copies a table while other threads write it); our
    handlers still run concurrently and race each other between requests."""
    lock = threading.Lock()
    original = BotocoreStubber.__call__

    def atomic(self, *args, **kwargs):
        with lock:
            return original(self, *args, **kwargs)

    monkeypatch.setattr(BotocoreStubber, "__call__", atomic)


@pytest.fixture
def rest(stack) -> RestClient:
    """Each thread calls its own containers of the functions, as concurrent requests reach
    separate Lambda containers (a resolver must not resolve two requests at once)."""
    return RestClient(container_per_thread=True)


def _all_at_once(action, n: int = N) -> list:
    barrier = Barrier(n)

    def run(index: int):
        barrier.wait()
        return action(index)

    with ThreadPoolExecutor(max_workers=n) as pool:
        return list(pool.map(run, range(n)))


def test_twenty_simultaneous_registrations_of_one_username_give_one_account(rest):
    # Given 20 clients registering "Alice" in every case at the same moment
    results = _all_at_once(
        lambda i: rest.post(
            "/auth/register",
            {"username": "Alice" if i % 2 else "alice", "password": f"password-{i}"},
        )
    )
    # Then exactly one succeeds and the rest conflict
    statuses = sorted(result.status for result in results)
    assert statuses.count(201) == 1
    assert statuses.count(409) == N - 1
    assert {r.error_code for r in results if r.status == 409} == {"conflict"}


def test_twenty_simultaneous_registrations_of_one_email_give_one_account(rest):
    results = _all_at_once(
        lambda i: rest.post(
            "/auth/register",
            {
                "username": f"user{i}",
                "password": "password-123",
                "email": "Same@Example.com" if i % 2 else "same@example.COM",
            },
        )
    )
    statuses = [result.status for result in results]
    assert statuses.count(201) == 1
    assert statuses.count(409) == N - 1


def test_joining_concurrently_never_duplicates_a_membership(rest, register):
    owner = register("owner")
    joiner = register("joiner")
    room = rest.post("/rooms", {"name": "busy"}, token=owner).body
    # When one user joins the same room 20 times at once
    results = _all_at_once(lambda i: rest.post("/rooms/join", {"code": room["code"]}, token=joiner))
    # Then every call succeeds and there is one membership for them
    assert {result.status for result in results} == {200}
    usernames = [member["username"] for member in list_members(room["room_id"])]
    assert sorted(usernames) == ["bot", "joiner", "owner"]


def test_concurrent_joins_cannot_overfill_a_direct_room(rest, register):
    # The logic is called directly: the REST resolver keeps the current event on the app,
    # so one app cannot serve threads at once (Lambda never does).
    from chat.errors import Conflict
    from chat.logic.accounts.tokens import verify_token
    from chat.logic.rooms import membership
    from chat.principal import Principal

    owner = register("owner")
    room = rest.post("/rooms", {"name": "dm", "is_group": False}, token=owner).body
    people: list[Principal] = [verify_token(register(f"user{i}")) for i in range(6)]

    def join(index: int) -> str:
        try:
            membership.join_room(people[index], room["code"])
            return "joined"
        except Conflict:
            return "full"

    outcomes = _all_at_once(join, 6)
    assert sorted(outcomes) == ["full"] * 5 + ["joined"]
    assert len(list_members(room["room_id"])) == 3  # the owner, one other, the bot


def test_concurrent_joins_cannot_overfill_a_room_of_ten_thousand(rest, register):
    from chat.dal.rooms import get_room
    from chat.errors import Conflict
    from chat.logic.accounts.tokens import verify_token
    from chat.logic.rooms import membership
    from chat.principal import Principal
    from tests.integration.test_room_rules import people_in

    room = rest.post("/rooms", {"name": "stadium"}, token=register("owner")).body
    people_in(room["room_id"], membership.ROOM_MAX_PEOPLE - 2)  # two places left
    people: list[Principal] = [verify_token(register(f"fan{i}")) for i in range(8)]

    def join(index: int) -> str:
        try:
            membership.join_room(people[index], room["code"])
            return "joined"
        except Conflict:
            return "full"

    # When eight people join at once for the last two places
    outcomes = _all_at_once(join, 8)
    # Then two get in, six are refused, and the count is exactly the limit
    assert sorted(outcomes) == ["full"] * 6 + ["joined"] * 2
    stored = get_room(room["room_id"])
    assert stored is not None and int(stored["human_count"]) == membership.ROOM_MAX_PEOPLE
    joined = {m["username"] for m in list_members(room["room_id"])} & {p.username for p in people}
    assert len(joined) == 2


# ------------------------------------------------------------------------------ login bursts
@pytest.fixture
def checked_passwords(monkeypatch) -> list[str]:
    """The passwords login checked with bcrypt (thread-safe: list.append)."""
    from chat.logic.accounts import sign_in

    checked: list[str] = []
    verify = sign_in.verify_password

    def counting(password: str, password_hash: str | None) -> bool:
        checked.append(password)
        return verify(password, password_hash)

    monkeypatch.setattr(sign_in, "verify_password", counting)
    return checked


@pytest.mark.parametrize("throttled_by", ["username", "address"])
def test_a_burst_of_logins_past_the_limit_gets_at_most_one_password_checked(
    rest, register, monkeypatch, checked_passwords, throttled_by
):
    from chat.config import settings

    # Given a limit of 10 failures, and 9 failures already
    variable = f"LOGIN_FAILURES_PER_{'USERNAME' if throttled_by == 'username' else 'ADDRESS'}"
    monkeypatch.setenv(variable, "10")
    settings.cache_clear()
    register("alice", "right password")

    def login(username: str, password: str):
        body = {"username": username, "password": password}
        return rest.post("/auth/login", body, source_ip="203.0.113.9")

    def name(i: int) -> str:  # per address: a different username each time
        return "alice" if throttled_by == "username" else f"guess{i}"

    assert {login(name(i), f"wrong {i}").status for i in range(9)} == {401}
    checked_passwords.clear()
    # When 20 attempts come at once, the right password last
    results = _all_at_once(
        lambda i: login("alice", "right password" if i == N - 1 else f"wrong {i + 9}")
    )
    # Then at most one wrong password is checked (the tenth guess), as if the attempts had come
    # one after another: a right password checked first is no failure, so it leaves the tenth
    # guess to one wrong attempt. Every attempt not checked is a 429.
    wrong = [password for password in checked_passwords if password != "right password"]
    assert len(wrong) <= 1, checked_passwords
    statuses = [result.status for result in results]
    assert statuses.count(401) == len(wrong), statuses
    assert statuses.count(429) == N - len(checked_passwords), statuses
    assert all(status in (200, 401, 429) for status in statuses)
    refused = [r for r in results if r.status == 429]
    assert all(int(r.headers["retry-after"]) >= 1 for r in refused)
    settings.cache_clear()


def test_owners_and_registrations_racing_for_one_name_give_it_once(rest, register):
    # The logic is called directly, as above: one resolver cannot serve threads at once.
    from chat.errors import Conflict
    from chat.logic.accounts import sign_in
    from chat.logic.accounts.tokens import verify_token
    from chat.logic.bot import room_settings
    from chat.models import CreateBotRequest, RegisterRequest

    # Given ten owners of ten rooms adding a bot "Sage" while ten people register "sage"
    tokens = [register(f"owner{i}") for i in range(10)]
    rooms = [rest.post("/rooms", {"name": f"r{i}"}, token=t).body for i, t in enumerate(tokens)]

    def claim(index: int) -> str:
        try:
            if index % 2:
                room, owner = rooms[index // 2], verify_token(tokens[index // 2])
                request = CreateBotRequest(name="Sage")
                room_settings.create_bot(owner, room["room_id"], request)
            else:
                sign_in.register(RegisterRequest(username="sage", password=f"password-{index}"))
        except Conflict:
            return "conflict"
        return "claimed"

    outcomes = _all_at_once(claim)
    # Then exactly one of them gets the name
    assert outcomes.count("claimed") == 1, outcomes
    assert outcomes.count("conflict") == N - 1
