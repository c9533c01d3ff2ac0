"""`make smoke` against the local stack, so the smoke test of deployed stacks cannot rot: the
same script (tools/smoke.py), from its command line, on the stack's localized outputs."""

from __future__ import annotations

import subprocess
import sys

from tests.e2e.conftest import ROOT, LocalStackProcess


def test_the_smoke_test_passes_against_the_local_stack(stack: LocalStackProcess):
    run = subprocess.run(  # noqa: S603 - our own script
        [
            sys.executable,
            "-m",
            "tools.smoke",
            "--rest-url",
            stack.outputs["RestApiUrl"],
            "--ws-url",
            stack.outputs["WebSocketUrl"],
            "--require-answer",  # the local stack's fake Gemini answers with its shared key
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    assert run.returncode == 0, run.stdout + run.stderr
    steps = [line for line in run.stdout.splitlines() if line.startswith("ok   ")]
    assert [line.split(" (")[0][5:] for line in steps][1:] == [
        "who am I",
        "create a room",
        "connect the WebSocket",
        "join the room",
        "send a message over the WebSocket",
        "find it in the history",
        "ask the bot and read its answer",
        "leave the room",
    ]
    assert "the bot answered" in run.stdout and "smoke test passed" in run.stdout


def test_the_smoke_test_fails_when_a_flow_does(stack: LocalStackProcess):
    run = subprocess.run(  # noqa: S603 - our own script
        [
            sys.executable,
            "-m",
            "tools.smoke",
            "--rest-url",
            stack.outputs["RestApiUrl"] + "/nowhere",
            "--ws-url",
            stack.outputs["WebSocketUrl"],
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert run.returncode == 1
    assert "FAIL register" in run.stdout and "smoke test FAILED" in run.stderr
