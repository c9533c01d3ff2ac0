"""The import contracts of pyproject.toml (`make lint` runs `lint-imports`) hold for the chat
package, and break on the imports they forbid: each case copies the package, adds one
forbidden import and runs lint-imports on the copy with the repository's configuration."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "layers" / "shared" / "chat"
LINT_IMPORTS = Path(sys.executable).parent / "lint-imports"


def _lint(package_parent: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(  # noqa: S603 - our own tool, fixed arguments
        [str(LINT_IMPORTS), "--config", str(ROOT / "pyproject.toml"), "--no-cache", "--no-logo"],
        cwd=package_parent,
        env={**os.environ, "PYTHONPATH": str(package_parent)},
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.fixture
def copy(tmp_path: Path) -> Path:
    shutil.copytree(PACKAGE, tmp_path / "chat", ignore=shutil.ignore_patterns("__pycache__"))
    return tmp_path


def _add_import(package_parent: Path, module: str, line: str) -> None:
    path = package_parent.joinpath(*module.split(".")).with_suffix(".py")
    path.write_text(path.read_text() + f"\n{line}  # noqa\n")


def test_the_package_keeps_every_contract(copy: Path):
    result = _lint(copy)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout


@pytest.mark.parametrize(
    ("module", "line", "contract"),
    [
        ("chat.logic.rooms.directory", "import boto3", "boto3 and botocore only in"),
        (
            "chat.transport.rest",
            "from botocore.exceptions import ClientError",
            "boto3 and botocore",
        ),
        ("chat.logic.bot.answer", "from google import genai", "The Gemini SDK"),
        (
            "chat.logic.conversation.messages",
            "from chat.transport import rest",
            "Logic never imports",
        ),
        ("chat.dal.users", "from chat.logic.accounts import sign_in", "chat is layered"),
        (
            "chat.logic.realtime.fanout",
            "from chat.logic.rooms import directory",
            "The logic's wings are layered",
        ),
        (
            "chat.logic.bot.control",
            "from chat.logic.bot import answer",
            "The REST and WebSocket functions never load the Gemini adapter",
        ),
        (
            "chat.logic.realtime.fanout",
            "from chat.logic.realtime import presence",
            "No import cycle",
        ),
        ("chat.logic.notifications.audience", "import pywebpush", "The Web Push libraries"),
        (
            "chat.logic.notifications.mentions",
            "from chat.adapters import web_push",
            "Only the notifications functions load Web Push",
        ),
        (
            "chat.logic.notifications.audience",
            "from chat.logic.bot import ending",
            "The logic's wings are layered",
        ),
    ],
)
def test_a_forbidden_import_breaks_the_lint(copy: Path, module: str, line: str, contract: str):
    _add_import(copy, module, line)
    result = _lint(copy)
    assert result.returncode != 0
    broken = result.stdout.split("Broken contracts", 1)[-1]
    assert contract in broken, result.stdout
