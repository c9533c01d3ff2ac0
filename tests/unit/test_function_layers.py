"""Each function imports only what its layers ship. The development environment has every
package installed, so a handler that reaches a package its layers leave out works in every
other test and fails at its first cold start on Lambda. Here each function's handler is
imported in a fresh process where those packages cannot be imported: what the dependencies
layer leaves out (tests.integration.test_layer_pruning), and what the Web Push layer ships
(cryptography, pywebpush...) unless the function carries that layer. The process has the
function's own environment from the template and nothing more, so a setting the handler
requires at import and the template does not give it fails here too."""

from __future__ import annotations

import importlib.metadata
import json
import os
import subprocess
import sys
from functools import cache
from pathlib import Path

import pytest

from local.template import load_template, resources_of_type
from tests.integration.test_layer_pruning import IMPORT_NAMES
from tests.support.layers import canonical, pins

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = load_template()
FUNCTIONS = resources_of_type(TEMPLATE, "AWS::Serverless::Function")

IMPORT = """
import importlib.util, json, os, sys

from tests.support.layers import block

block(json.loads(sys.argv[1]))
os.environ.update(json.loads(sys.argv[4]))  # the function's own environment, nothing more

spec = importlib.util.spec_from_file_location("app", sys.argv[2])
module = importlib.util.module_from_spec(spec)
spec.loader.exec_module(module)
assert callable(getattr(module, sys.argv[3]))
"""

# What the dependencies layer leaves out and the Lambda runtime does not provide.
LEFT_OUT = {name for names in IMPORT_NAMES.values() for name in names or []}


def _locked(path: Path) -> set[str]:
    return set(pins(path.read_text()))


@cache
def webpush_only_modules() -> list[str]:
    """Top-level import names of the packages the Web Push layer ships and the
    dependencies layer does not."""
    only = _locked(ROOT / "layers/webpush/requirements.lock") - _locked(
        ROOT / "layers/deps/requirements.lock"
    )
    modules = {
        module
        for module, distributions in importlib.metadata.packages_distributions().items()
        if any(canonical(d) in only for d in distributions)
    }
    return sorted(m for m in modules if not m.startswith("_") or m == "_cffi_backend")


def _variables(properties: dict) -> dict[str, str]:
    """The environment the template gives a function: a parameter's default where the
    value is one, a placeholder for what only a deploy makes (resources' names, URLs)."""
    shared = TEMPLATE["Globals"]["Function"]["Environment"]["Variables"]
    own = (properties.get("Environment") or {}).get("Variables") or {}
    parameters = TEMPLATE["Parameters"]
    variables = {}
    for name, value in {**shared, **own}.items():
        ref = value.get("Ref") if isinstance(value, dict) else None
        if ref in parameters and "Default" in parameters[ref]:
            variables[name] = str(parameters[ref]["Default"])
        elif isinstance(value, str | int | float | bool):
            variables[name] = str(value)
        else:
            variables[name] = "https://placeholder.invalid/1"
    return variables


def _carries_webpush(properties: dict) -> bool:
    return {"Ref": "WebPushLayer"} in (properties.get("Layers") or [])


def not_shipped(properties: dict) -> list[str]:
    """The top-level modules none of a function's layers ship."""
    webpush = set(webpush_only_modules())
    return sorted(LEFT_OUT - webpush if _carries_webpush(properties) else LEFT_OUT | webpush)


def test_the_web_push_layer_ships_packages_of_its_own():
    modules = webpush_only_modules()
    assert {"cryptography", "pywebpush", "http_ece", "py_vapid"} <= set(modules), modules
    assert any(_carries_webpush(f["Properties"]) for f in FUNCTIONS.values())
    assert {"cryptography", "dns", "pyasn1"} <= set(not_shipped({"Layers": []}))


@pytest.mark.parametrize("logical_id", sorted(FUNCTIONS))
def test_a_function_imports_only_what_its_layers_ship(logical_id: str):
    properties = FUNCTIONS[logical_id]["Properties"]
    module_name, attribute = properties["Handler"].rsplit(".", 1)
    blocked = not_shipped(properties)
    run = subprocess.run(  # noqa: S603 - our own interpreter and code
        [
            sys.executable,
            "-c",
            IMPORT,
            json.dumps(blocked),
            str(ROOT / properties["CodeUri"] / f"{module_name}.py"),
            attribute,
            json.dumps(_variables(properties)),
        ],
        cwd=ROOT,
        env={
            "PATH": os.environ.get("PATH", ""),
            "PYTHONPATH": f"{ROOT}{os.pathsep}{ROOT / 'layers' / 'shared'}",
            "AWS_DEFAULT_REGION": "us-east-1",
        },
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 0, run.stderr[-3000:]
