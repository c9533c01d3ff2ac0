"""The dependencies layer's lock (layers/deps/requirements.lock): the versions the tests run,
every package hashed, and nothing of boto3's (the Lambda runtime's)."""

from __future__ import annotations

import importlib.metadata
import re
from pathlib import Path

from tests.support.layers import canonical, pins

ROOT = Path(__file__).resolve().parents[2]
LOCK = ROOT / "layers" / "deps" / "requirements.lock"


def _lock_entries() -> dict[str, list[str]]:
    """name -> the sha256 hashes of its wheels."""
    entries: dict[str, list[str]] = {}
    current = None
    for line in LOCK.read_text().splitlines():
        if line.startswith("#") or not line.strip():
            continue
        if "==" in line:
            current = canonical(line.split("==")[0])
            entries[current] = []
        elif current and "--hash=sha256:" in line:
            entries[current].append(line.split("--hash=sha256:")[1].rstrip(" \\"))
    return entries


LOCKED = pins(LOCK.read_text())


def test_the_layer_ships_the_versions_the_tests_run_with() -> None:
    constraints = pins((ROOT / "requirements" / "constraints.txt").read_text())
    assert LOCKED
    for name, version in LOCKED.items():
        assert constraints.get(name) == version, f"{name}: lock {version}, tests {constraints}"
        assert importlib.metadata.version(name) == version, name


def test_every_direct_requirement_is_locked_at_its_pinned_version() -> None:
    direct = pins((ROOT / "layers" / "deps" / "requirements.txt").read_text())
    assert direct
    for name, version in direct.items():
        assert LOCKED.get(name) == version, name


def test_every_locked_package_has_64_hex_sha256_hashes() -> None:
    entries = _lock_entries()
    assert entries.keys() == LOCKED.keys()
    for name, hashes in entries.items():
        assert hashes, name
        assert all(re.fullmatch(r"[0-9a-f]{64}", digest) for digest in hashes), name


def test_boto3_and_botocore_are_left_to_the_lambda_runtime() -> None:
    # Never a layer botocore under the runtime's boto3 (or the other way round).
    assert not {"boto3", "botocore", "s3transfer"} & LOCKED.keys()


# ------------------------------------------------------------------------------ Web Push layer
WEBPUSH_LOCK = ROOT / "layers" / "webpush" / "requirements.lock"
WEBPUSH_LOCKED = pins(WEBPUSH_LOCK.read_text())


def test_the_web_push_layer_ships_its_requirements_at_the_tested_versions() -> None:
    constraints = pins((ROOT / "requirements" / "constraints.txt").read_text())
    direct = pins((ROOT / "layers" / "webpush" / "requirements.txt").read_text())
    assert direct.keys() == {"pywebpush", "py-vapid", "http-ece"}
    for name, version in direct.items():
        assert WEBPUSH_LOCKED.get(name) == version, name
    for name, version in WEBPUSH_LOCKED.items():
        assert constraints.get(name) == version, name
        assert importlib.metadata.version(name) == version, name


def test_the_web_push_layer_adds_to_the_dependencies_layer_without_overlap() -> None:
    # Both land in /opt/python: a package in both would be one layer's files over the other's.
    assert not WEBPUSH_LOCKED.keys() & LOCKED.keys()
    # cryptography ships with Web Push only: in the shared layer PyJWT would load it in every
    # function's cold start.
    assert "cryptography" in WEBPUSH_LOCKED and "cryptography" not in LOCKED
    assert not {"boto3", "botocore", "s3transfer"} & WEBPUSH_LOCKED.keys()


def test_a_package_without_wheels_is_built_from_its_hashed_sdist() -> None:
    makefile = (ROOT / "layers" / "webpush" / "Makefile").read_text()
    entries: dict[str, list[str]] = {}
    current = None
    for line in WEBPUSH_LOCK.read_text().splitlines():
        if "==" in line and not line.startswith("#"):
            current = canonical(line.split("==")[0])
            entries[current] = []
        elif current and "--hash=sha256:" in line:
            entries[current].append(line.split("--hash=sha256:")[1].rstrip(" \\"))
    assert entries["http-ece"] and all(
        re.fullmatch(r"[0-9a-f]{64}", h) for h in entries["http-ece"]
    )
    assert "--no-binary=http-ece" in makefile and "--require-hashes" in makefile
