"""The local Lambda's init limit, as Lambda's: a prewarm (no invocation waiting) gives up after
the init limit; an init that overruns it for an invocation goes on under the function's
Timeout, and the handler gets what is left of it (Lambda's suppressed init)."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from local import lambda_runtime
from local.lambda_runtime import FunctionPool
from local.model import FunctionSpec

SLOW_INIT = """
import time
time.sleep({seconds})

def handler(event, context):
    return {{"remaining_ms": context.get_remaining_time_in_millis()}}
"""


def _pool(tmp_path: Path, init_seconds: float, timeout: int) -> FunctionPool:
    (tmp_path / "app.py").write_text(SLOW_INIT.format(seconds=init_seconds))
    spec = FunctionSpec(
        logical_id="SlowFunction",
        name="slow",
        arn="arn:aws:lambda:us-east-1:123456789012:function:slow",
        handler="app.handler",
        runtime="python3.13",
        code_dir=tmp_path,
        layer_paths=[],
        environment={},
        timeout=timeout,
        memory=128,
        reserved_concurrency=None,
    )
    return FunctionPool(spec, {"PATH": "/usr/bin:/bin"}, max_workers=1, log_line=lambda *_: None)


async def _run(pool: FunctionPool, what: str) -> Any:
    try:
        return await (pool.prewarm() if what == "prewarm" else pool.invoke({}))
    finally:
        await pool.close()


def test_an_init_over_the_limit_fails_a_prewarm(tmp_path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr(lambda_runtime, "INIT_TIMEOUT_SECONDS", 0.3)
    error = asyncio.run(_run(_pool(tmp_path, init_seconds=1.5, timeout=5), "prewarm"))
    assert error is not None and error["errorType"] == "Runtime.InitTimeout"


def test_an_init_over_the_limit_for_an_invocation_runs_on_within_its_timeout(
    tmp_path, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setattr(lambda_runtime, "INIT_TIMEOUT_SECONDS", 0.3)
    result = asyncio.run(_run(_pool(tmp_path, init_seconds=1.5, timeout=5), "invoke"))
    assert result.ok and result.cold_start, result.error
    # the handler got the Timeout less the init's overrun past the limit
    assert 3000 < result.payload["remaining_ms"] < 5000 - 1000


def test_an_init_over_the_timeout_fails_the_invocation(tmp_path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr(lambda_runtime, "INIT_TIMEOUT_SECONDS", 0.3)
    result = asyncio.run(_run(_pool(tmp_path, init_seconds=3, timeout=1), "invoke"))
    assert not result.ok and result.error["errorType"] == "Runtime.InitTimeout"
