"""The build's bytecode step (tools/compile_bytecode.py): CPython 3.13, unchecked-hash pycs in
__pycache__ beside every source, with the code's path on Lambda in tracebacks."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
TOOL = ROOT / "tools" / "compile_bytecode.py"

_spec = importlib.util.spec_from_file_location("compile_bytecode", TOOL)
assert _spec and _spec.loader
compile_bytecode = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(compile_bytecode)

PYTHON313 = compile_bytecode.find_python313()
needs_313 = pytest.mark.skipif(
    PYTHON313 is None, reason="no CPython 3.13 on this machine (PATH, pyenv, $PYTHON313)"
)


def _tree(root: Path) -> None:
    (root / "pkg" / "sub").mkdir(parents=True)
    (root / "pkg" / "__init__.py").write_text("")
    (root / "pkg" / "sub" / "__init__.py").write_text("")
    (root / "pkg" / "sub" / "boom.py").write_text("def fail():\n    raise ValueError('x')\n")
    (root / "top.py").write_text("VALUE = 42\n")


@needs_313
def test_every_module_gets_an_unchecked_hash_pyc_for_cpython_313(tmp_path: Path) -> None:
    _tree(tmp_path)
    result = subprocess.run(  # noqa: S603 - our own tool
        [sys.executable, str(TOOL), str(tmp_path), "--ddir", "/opt/python"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    for source in ["top.py", "pkg/__init__.py", "pkg/sub/__init__.py", "pkg/sub/boom.py"]:
        path = tmp_path / source
        pyc = path.parent / "__pycache__" / f"{path.stem}.cpython-313.pyc"
        header = pyc.read_bytes()[:16]
        # PEP 552: flags word 0b01 = hash-based, source not checked.
        assert int.from_bytes(header[4:8], "little") == 0b01, source
    assert compile_bytecode.missing_bytecode(str(tmp_path)) == []


@needs_313
def test_python_313_loads_the_pyc_even_when_the_source_changed_and_it_names_runtime_paths(
    tmp_path: Path,
) -> None:
    _tree(tmp_path)
    assert compile_bytecode.compile_tree(str(tmp_path), "/opt/python", PYTHON313) == 0
    # An unchecked pyc is used as is: editing the source (or zip times) does not matter.
    (tmp_path / "top.py").write_text("VALUE = 0\n")
    pyc = tmp_path / "pkg" / "sub" / "__pycache__" / "boom.cpython-313.pyc"
    script = (
        "import marshal, sys; sys.dont_write_bytecode = True\n"
        f"sys.path.insert(0, {str(tmp_path)!r})\n"
        "import top; print(top.VALUE)\n"
        f"print(marshal.loads(open({str(pyc)!r}, 'rb').read()[16:]).co_filename)\n"
    )
    out = subprocess.run(  # noqa: S603 - the 3.13 found
        [PYTHON313, "-I", "-c", script], capture_output=True, text=True, check=True
    ).stdout.split()
    # The code objects carry the path the module has on Lambda (compileall -d).
    assert out == ["42", "/opt/python/pkg/sub/boom.py"]


def test_missing_bytecode_lists_sources_without_a_313_pyc(tmp_path: Path) -> None:
    _tree(tmp_path)
    cache = tmp_path / "__pycache__"
    cache.mkdir()
    (cache / "top.cpython-311.pyc").write_bytes(b"")  # another version's pyc does not count
    assert compile_bytecode.missing_bytecode(str(tmp_path)) == [
        "pkg/__init__.py",
        "pkg/sub/__init__.py",
        "pkg/sub/boom.py",
        "top.py",
    ]


def test_without_python_313_the_build_warns_and_stays_source_only(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    _tree(tmp_path)
    monkeypatch.delenv("REQUIRE_BYTECODE", raising=False)
    assert compile_bytecode.compile_tree(str(tmp_path), "/opt/python", None) == 0
    out = capsys.readouterr().out
    assert "WARNING: no CPython 3.13 found" in out and "pyenv install 3.13" in out
    assert not list(tmp_path.rglob("*.pyc"))
    monkeypatch.setenv("REQUIRE_BYTECODE", "1")
    assert compile_bytecode.compile_tree(str(tmp_path), "/opt/python", None) == 1


def test_interpreters_that_are_not_313_are_skipped(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A pyenv shim named python3.13 that cannot run, first on PATH, must not be chosen.
    shim = tmp_path / "bin" / "python3.13"
    shim.parent.mkdir()
    shim.write_text("#!/bin/sh\necho 'pyenv: python3.13: command not found' >&2\nexit 127\n")
    shim.chmod(0o755)
    monkeypatch.setenv("PATH", str(shim.parent))
    monkeypatch.setenv("PYENV_ROOT", str(tmp_path / "no-pyenv"))
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.delenv("PYTHON313", raising=False)
    if sys.version_info[:2] == (3, 13):
        pytest.skip("the interpreter running the tests is itself 3.13")
    assert compile_bytecode.find_python313() is None


def _makefile_builds() -> list[tuple[str, str]]:
    """(logical id, source directory) of every function and layer `sam build` makes with our
    Makefiles, but the dependencies layers (a pip install from the package index)."""
    sys.path[:0] = [str(ROOT)]
    from local.template import load_template

    builds = []
    for logical_id, resource in load_template()["Resources"].items():
        properties = resource.get("Properties", {})
        source = properties.get("CodeUri") or properties.get("ContentUri")
        build_method = (resource.get("Metadata") or {}).get("BuildMethod")
        if build_method == "makefile" and source not in ("layers/deps", "layers/webpush"):
            builds.append((logical_id, source))
    return sorted(builds)


@needs_313
@pytest.mark.parametrize(("logical_id", "source"), _makefile_builds())
def test_every_function_and_layer_build_ships_bytecode_for_every_module(
    logical_id: str, source: str, tmp_path: Path
) -> None:
    # As `sam build` runs the Makefile (in place here; its REPO is found from its own path).
    artifacts = tmp_path / logical_id
    subprocess.run(  # noqa: S603 - make on our own Makefile
        ["make", "-s", "-C", str(ROOT / source), f"build-{logical_id}"],  # noqa: S607
        env={**os.environ, "ARTIFACTS_DIR": str(artifacts), "REQUIRE_BYTECODE": "1"},
        check=True,
        capture_output=True,
    )
    assert list(artifacts.rglob("*.py"))
    assert compile_bytecode.missing_bytecode(str(artifacts)) == []


def test_the_builds_checked_include_every_function() -> None:
    built = {logical_id for logical_id, _ in _makefile_builds()}
    assert {"SharedLayer", "AuthFunction", "RoomsFunction", "WsAuthorizerFunction"} <= built
    assert "BotWorkerFunction" in built and "WsMessageFunction" in built
