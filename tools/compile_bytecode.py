"""Compile a build artifact's Python sources to CPython 3.13 bytecode, as Lambda will run them.

Lambda's /opt (layers) and /var/task (function code) are read-only: a module shipped without
bytecode is compiled again on every cold start. This script writes, next to every `.py` under
DIR, `__pycache__/<name>.cpython-313.pyc` in *unchecked-hash* mode (valid whatever the file
times in the zip), with the path the code will have on Lambda (`--ddir`, e.g. /opt/python) so
tracebacks show runtime paths.

The compiler must be CPython 3.13 (bytecode is version-specific; the host's python3 may be
another version). It is looked up in this order: $PYTHON313, the interpreter running this
script if it is 3.13, `python3.13` on PATH (pyenv shims that cannot run are skipped), then
$(pyenv root)/versions/3.13*/bin/python3.13. With none, the build prints a loud warning with
how to get one and leaves the artifact source-only (it still works, only cold starts are
slower); with REQUIRE_BYTECODE=1 that is an error instead.

Usage: compile_bytecode.py DIR --ddir /opt/python
       compile_bytecode.py --find          (print the interpreter that would be used)
Runs on any Python 3.8+ (it only starts the 3.13 interpreter).
"""

from __future__ import annotations

import argparse
import glob
import os
import shutil
import subprocess
import sys

TARGET = (3, 13)
TAG = "cpython-313"

_HOW_TO_GET = """\
Install CPython 3.13 (the Lambda runtime's version) with any of:
    pyenv install 3.13          (found under $(pyenv root)/versions/3.13*)
    uv python install 3.13      (then: export PYTHON313="$(uv python find 3.13)")
    apt-get install python3.13  (Debian/Ubuntu with 3.13 packaged, or the deadsnakes PPA)
or point PYTHON313 at an existing python3.13, then run `sam build` again."""


def _version_of(executable: str) -> tuple[int, int] | None:
    try:
        out = subprocess.run(  # noqa: S603 - candidate interpreters, found not given
            [
                executable,
                "-c",
                "import sys; print('%d.%d %s' % (sys.version_info[:2] + "
                "(sys.implementation.name,)))",
            ],
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    if out.returncode != 0:
        return None
    try:
        version, implementation = out.stdout.split()
        major, minor = (int(part) for part in version.split("."))
    except ValueError:
        return None
    return (major, minor) if implementation == "cpython" else None


def _pyenv_candidates() -> list[str]:
    roots = []
    if os.environ.get("PYENV_ROOT"):
        roots.append(os.environ["PYENV_ROOT"])
    pyenv = shutil.which("pyenv")
    if pyenv:
        try:
            out = subprocess.run(  # noqa: S603 - pyenv from PATH
                [pyenv, "root"], capture_output=True, text=True, timeout=30, check=False
            )
            if out.returncode == 0 and out.stdout.strip():
                roots.append(out.stdout.strip())
        except (OSError, subprocess.TimeoutExpired):
            pass
    roots.append(os.path.expanduser("~/.pyenv"))
    found: list[str] = []
    for root in dict.fromkeys(roots):
        # Newest patch release first (3.13.10 after 3.13.9).
        paths = glob.glob(os.path.join(root, "versions", "3.13*", "bin", "python3.13"))
        found.extend(sorted(paths, key=_patch_key, reverse=True))
    return found


def _patch_key(path: str) -> tuple[int, ...]:
    name = os.path.basename(os.path.dirname(os.path.dirname(path)))
    return tuple(int(part) if part.isdigit() else -1 for part in name.split("."))


def find_python313() -> str | None:
    """The path of a working CPython 3.13 interpreter, or None."""
    candidates: list[str] = []
    if os.environ.get("PYTHON313"):
        candidates.append(os.environ["PYTHON313"])
    if sys.version_info[:2] == TARGET and sys.implementation.name == "cpython":
        candidates.append(sys.executable)
    on_path = shutil.which("python3.13")
    if on_path:
        candidates.append(on_path)
    candidates.extend(_pyenv_candidates())
    for candidate in dict.fromkeys(candidates):
        if _version_of(candidate) == TARGET:
            return candidate
    return None


def missing_bytecode(root: str) -> list[str]:
    """Every .py under root without its cpython-313 pyc in the __pycache__ beside it."""
    missing = []
    for directory, _dirs, files in os.walk(root):
        if os.path.basename(directory) == "__pycache__":
            continue
        for name in files:
            if not name.endswith(".py"):
                continue
            pyc = os.path.join(directory, "__pycache__", f"{name[:-3]}.{TAG}.pyc")
            if not os.path.exists(pyc):
                missing.append(os.path.relpath(os.path.join(directory, name), root))
    return sorted(missing)


def _warn(lines: str, error: bool = False) -> None:
    # sam build shows make's stdout as it runs but its stderr only when the build fails.
    stream = sys.stderr if error else sys.stdout
    bar = "!" * 78
    stream.write(f"\n{bar}\n{lines}\n{bar}\n\n")
    stream.flush()


def compile_tree(root: str, ddir: str, python: str | None) -> int:
    if python is None:
        message = (
            f"WARNING: no CPython 3.13 found; {root} ships WITHOUT bytecode.\n"
            "Lambda's code directories are read-only, so every cold start will compile\n"
            "these modules again (measured: about 2.5x slower imports). The build still works.\n"
            + _HOW_TO_GET
        )
        required = os.environ.get("REQUIRE_BYTECODE") == "1"
        _warn(message, error=required)
        return 1 if required else 0
    command = [
        python,
        "-m",
        "compileall",
        "-q",
        "-j",
        "0",
        "--invalidation-mode",
        "unchecked-hash",
        "-d",
        ddir,
        root,
    ]
    result = subprocess.run(command, check=False)  # noqa: S603 - compileall on our artifact
    missing = missing_bytecode(root)
    if result.returncode != 0 or missing:
        shown = "\n".join(f"    {path}" for path in missing[:20])
        _warn(
            f"ERROR: {python} could not compile {len(missing)} module(s) under {root}:\n{shown}",
            error=True,
        )
        return 1
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("root", nargs="?", help="directory to compile in place")
    parser.add_argument("--ddir", help="the directory's path at run time, e.g. /opt/python")
    parser.add_argument("--find", action="store_true", help="print the 3.13 interpreter found")
    args = parser.parse_args(argv)
    python = find_python313()
    if args.find:
        if python:
            print(python)
            return 0
        _warn("No CPython 3.13 found.\n" + _HOW_TO_GET, error=True)
        return 1
    if not args.root or not args.ddir:
        parser.error("DIR and --ddir are required")
    return compile_tree(args.root, args.ddir, python)


if __name__ == "__main__":
    sys.exit(main())
