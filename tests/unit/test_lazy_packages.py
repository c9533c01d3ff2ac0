"""chat.lazy_packages: Powertools' resolver package loads only what is used, and every name
it exports is still the same object as with a plain import (each check in a fresh process)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ["aws_lambda_powertools.event_handler", "aws_lambda_powertools.utilities.data_classes"]

# Every name a package exports (its __all__ from a plain import), as "module.qualname".
NAMES = """
import importlib, json, sys
{setup}
out = {{}}
for package in {packages!r}:
    names = {names}
    module = importlib.import_module(package)
    out[package] = {{n: f"{{getattr(module, n).__module__}}.{{getattr(module, n).__qualname__}}"
                    if hasattr(getattr(module, n), "__qualname__") else repr(getattr(module, n))
                    for n in names}}
print(json.dumps(out))
"""


def _run(code: str, *args: str) -> str:
    run = subprocess.run(  # noqa: S603 - our own interpreter and code
        [sys.executable, "-c", code, *args],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT / "layers" / "shared")},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 0, run.stderr[-3000:]
    return run.stdout.strip().splitlines()[-1]


def test_every_exported_name_is_the_object_a_plain_import_gives():
    plain = json.loads(
        _run(
            NAMES.format(
                setup="",
                packages=PACKAGES,
                names="importlib.import_module(package).__all__",
            )
        )
    )
    lazy = json.loads(
        _run(
            NAMES.format(
                setup="from chat import lazy_packages\n"
                + "\n".join(f"lazy_packages.defer_init({p!r})" for p in PACKAGES),
                packages=PACKAGES,
                names="sorted(" + json.dumps(plain, sort_keys=True) + "[package])",
            )
        )
    )
    assert lazy == plain
    assert len(plain["aws_lambda_powertools.event_handler"]) > 10  # the check saw the names


def test_the_rest_resolver_loads_without_the_other_resolvers_and_event_classes():
    loaded = json.loads(
        _run(
            "import json, sys\n"
            "import chat\n"
            "from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response\n"
            "from aws_lambda_powertools.event_handler import content_types\n"
            "import aws_lambda_powertools.event_handler.openapi.exceptions\n"
            "app = APIGatewayRestResolver(enable_validation=True)\n"
            "before = sorted(m for m in sys.modules if m.startswith(('asyncio', "
            "'aws_lambda_powertools.event_handler.appsync', "
            "'aws_lambda_powertools.utilities.data_classes.kinesis')))\n"
            "from aws_lambda_powertools.event_handler import AppSyncResolver\n"
            "from aws_lambda_powertools.event_handler.appsync import AppSyncResolver as direct\n"
            "print(json.dumps({'before': before, 'same': AppSyncResolver is direct,\n"
            "    'content_types': content_types.APPLICATION_JSON,\n"
            "    'asyncio_after': 'asyncio' in sys.modules}))\n"
        )
    )
    assert loaded == {
        "before": [],
        "same": True,
        "content_types": "application/json",
        "asyncio_after": True,  # asked for, AppSync's resolver loads with what it needs
    }


def test_a_name_the_package_does_not_have_is_an_attribute_error():
    out = _run(
        "from chat import lazy_packages\n"
        "lazy_packages.defer_init('aws_lambda_powertools.event_handler')\n"
        "import aws_lambda_powertools.event_handler as eh\n"
        "seen = []\n"
        "try:\n"
        "    eh.NoSuchResolver\n"
        "except AttributeError as exc:\n"
        "    seen.append(str(exc))\n"
        "try:\n"
        "    from aws_lambda_powertools.event_handler import NoSuchResolver\n"
        "except ImportError as exc:\n"
        "    seen.append(type(exc).__name__)\n"
        "print(seen)\n"
    )
    assert out == (
        "[\"module 'aws_lambda_powertools.event_handler' has no attribute 'NoSuchResolver'\", "
        "'ImportError']"
    )


def test_an_imported_package_is_left_alone_and_a_module_is_refused():
    import aws_lambda_powertools.event_handler as eh

    from chat import lazy_packages

    lazy_packages.defer_init("aws_lambda_powertools.event_handler")
    assert sys.modules["aws_lambda_powertools.event_handler"] is eh
    with pytest.raises(ImportError):
        lazy_packages.defer_init("tabnanny")  # a module, not a package
