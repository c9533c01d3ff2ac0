"""bench/soak.py, briefly, end to end: the local stack started with `--faults` by its command
line (every service's), a few users sending with retries, reconnecting and catching up, bot
commands answered while DynamoDB throttles, fails and loses answers, the management API
throttles and drops sockets, SQS delivers twice or late and Gemini fails, and the soak's
checks read from the clients' view. Under these faults nothing may be lost or doubled: the
soak passes, and the faults did happen. (What the soak counts as lost, doubled or missed is
tested on made-up runs in tests/unit/test_soak_checks.py.)"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

from tests.e2e.conftest import ROOT


def test_a_short_soak_with_every_services_faults_loses_and_doubles_nothing(
    tmp_path: Path,
) -> None:
    result = subprocess.run(  # noqa: S603 - our own script
        [
            *(sys.executable, "bench/soak.py", "--minutes", "0.25"),
            *("--users", "4", "--rooms", "2", "--bot-share", "0.2", "--reconnect-every", "8"),
            *("--faults", "dynamodb=0.05,management_api=0.05,sqs=0.5,gemini=0.3"),
            *("--fault-seed", "3"),
            # a loaded machine may answer slowly: only a lost answer should make a retry
            *("--ack-timeout", "60", "--stack-log", str(tmp_path / "stack.log")),
        ],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": f"{ROOT}{os.pathsep}{ROOT / 'layers' / 'shared'}"},
        capture_output=True,
        text=True,
        timeout=900,
    )
    figures = result.stdout.strip().splitlines()[-1] if result.stdout.strip() else ""
    assert result.returncode == 0, f"{result.stdout[-4000:]}\n{result.stderr[-2000:]}"
    assert figures.startswith("soak 0.25 min, 4 users/2 rooms") and figures.endswith(": PASS")
    faults = dict(re.findall(r"(dynamodb|management_api|sqs|gemini) (\d+)/\d+", figures))
    assert set(faults) == {"dynamodb", "management_api", "sqs", "gemini"}, figures
    assert all(int(count) > 0 for count in faults.values()), figures
    commands = int(re.search(r"commands (\d+)", figures).group(1))  # type: ignore[union-attr]
    assert commands > 0, figures
