"""A client generated from docs/openapi.json matches the server: schemathesis, with every
check it has, runs the document against the local stack (as `schemathesis run
docs/openapi.json --checks all --url …` would) and finds nothing. It generates valid and
invalid requests for every operation, follows the document's links in stateful sequences,
and checks statuses, error shapes, headers, content types and response schemas.

Reproducible and bounded: a fixed seed, no example database, 10 examples per operation
and scenario (about 900 requests). tests/e2e/schemathesis.toml holds what the contract
answers that no schema can predict, each with its reason."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from tests.e2e.conftest import ROOT, LocalStackProcess, Rest, unique

SEED = 20261202
EXAMPLES = 10


def test_schemathesis_with_every_check_finds_nothing(stack: LocalStackProcess, tmp_path: Path):
    # A member whose token the requests carry (the stateful phase creates its own rooms)
    rest = Rest(stack.outputs["RestApiUrl"])
    registered = rest.post(
        "/auth/register", {"username": unique("fuzz"), "password": "a good password"}
    )
    assert registered.status_code == 201, registered.text
    token = registered.json()["access_token"]
    # Logging out revokes its token: that operation runs with another user's (schemathesis.toml)
    other = rest.post("/auth/register", {"username": unique("fuzz"), "password": "a good password"})
    assert other.status_code == 201, other.text
    environment = {**os.environ, "SCHEMATHESIS_LOGOUT_TOKEN": other.json()["access_token"]}

    run = subprocess.run(  # noqa: S603 - the venv's schemathesis
        [
            str(Path(sys.executable).with_name("schemathesis")),
            "--config-file",
            str(ROOT / "tests" / "e2e" / "schemathesis.toml"),
            "--no-color",
            "run",
            str(ROOT / "docs" / "openapi.json"),
            "--url",
            stack.outputs["RestApiUrl"],
            "--checks",
            "all",
            # the contract has no 405: a method a path lacks is 404; a room left is 404 to
            # its leaver (both in schemathesis.toml)
            "--exclude-checks",
            "unsupported_method,ensure_resource_availability",
            "--header",
            f"Authorization: Bearer {token}",
            "--max-examples",
            str(EXAMPLES),
            "--seed",
            str(SEED),
            "--generation-database",
            "none",
            "--workers",
            "1",
            "--request-timeout",
            "30",
        ],
        cwd=tmp_path,  # its cache stays out of the repository
        env=environment,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    summary = run.stdout[run.stdout.find("SUMMARY") :]
    assert run.returncode == 0, run.stdout[-12000:] + run.stderr[-2000:]
    document = json.loads((ROOT / "docs" / "openapi.json").read_text())
    operations = sum(len(methods) for methods in document["paths"].values())
    assert f"Tested: {operations}" in summary  # every operation of the document
    assert " passed" in summary and "failures" not in summary.lower()
