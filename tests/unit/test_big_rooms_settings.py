"""The big-room settings a function runs with: its environment's, or (the bot worker) the
SSM parameter's, read at most once a minute."""

from __future__ import annotations

import json

import pytest

from chat import aws
from chat.adapters import big_rooms_settings
from chat.config import settings


class FakeParameterStore:
    def __init__(self, value: dict[str, int]) -> None:
        self.value = value
        self.reads = 0

    def get_parameter(self, Name: str) -> dict:
        assert Name == "big-rooms"
        self.reads += 1
        return {"Parameter": {"Name": Name, "Value": json.dumps(self.value)}}


@pytest.fixture(autouse=True)
def _fresh(monkeypatch: pytest.MonkeyPatch):
    for name in ("BIG_ROOMS_PARAMETER", "FANOUT_SHARD_THRESHOLD", "SEND_BUDGET_PER_SECOND"):
        monkeypatch.delenv(name, raising=False)
    settings.cache_clear()
    big_rooms_settings.forget()
    yield
    settings.cache_clear()
    big_rooms_settings.forget()
    aws.reset()


def test_without_a_parameter_the_environment_decides(monkeypatch):
    monkeypatch.setenv("FANOUT_SHARD_THRESHOLD", "40")
    monkeypatch.setenv("SEND_BUDGET_PER_SECOND", "20000")
    current = big_rooms_settings.current()
    assert (current.fanout_shard_threshold, current.fanout_shard_size) == (40, 250)
    assert current.answer_share == 20000 / 5


def test_the_worker_reads_the_parameter_once_a_minute(monkeypatch):
    store = FakeParameterStore(
        {
            "fanout_shard_threshold": 300,
            "fanout_shard_size": 200,
            "send_budget_per_second": 50_000,
            "bot_worker_max_concurrency": 10,
        }
    )
    aws.inject("ssm", store)
    monkeypatch.setenv("BIG_ROOMS_PARAMETER", "big-rooms")
    monkeypatch.setenv("FANOUT_SHARD_THRESHOLD", "40")  # not the worker's: the parameter wins
    current = big_rooms_settings.current()
    assert (current.fanout_shard_threshold, current.fanout_shard_size) == (300, 200)
    assert current.answer_share == 5000
    big_rooms_settings.current()
    assert store.reads == 1
    monkeypatch.setattr(big_rooms_settings, "CACHE_SECONDS", 0.0)
    store.value["send_budget_per_second"] = 100_000  # AWS raised the limit
    assert big_rooms_settings.current().answer_share == 10_000
    assert store.reads == 2
