"""Structure checks of the repository, run by `make lint` (`python -m tools.structure`):

- no function longer than 60 lines in `layers/` or `functions/` (the Lambda code);
- no import cycle anywhere in the repository: every Python file, tests, tools and the local
  stack included (import-linter checks the layering inside the chat package);
- no issue number in a comment, a docstring or a Markdown page (the word issue and a
  number, or a hash and a number): history lives in git.

Each finding is printed as `path:line: message`; the exit status is 1 when there is any.
"""

from __future__ import annotations

import argparse
import ast
import io
import os
import re
import sys
import tokenize
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MAX_FUNCTION_LINES = 60
FUNCTION_DIRS = ("layers", "functions")
# Directories with a Python root of their own: their modules are imported by these names.
PYTHON_ROOTS = ("layers/shared",)
SKIPPED_DIRS = frozenset(
    {".git", ".venv", ".venv-checkov", ".aws-sam", "node_modules", "__pycache__", "dist",
     ".mypy_cache", ".ruff_cache", ".pytest_cache", ".local-state"}
)  # fmt: skip
# Files whose `#` comments are read besides Python's (Makefiles, YAML, TOML, shell).
HASH_COMMENT_NAMES = frozenset({"Makefile"})
HASH_COMMENT_SUFFIXES = frozenset({".mk", ".yaml", ".yml", ".toml", ".cfg", ".ini", ".sh"})
SLASH_COMMENT_SUFFIXES = frozenset({".ts", ".js", ".mjs"})
ISSUE_NUMBER = re.compile(r"\bissues?\s*#?\d+\b|(?<![\w&`/#])#\d+\b(?!`)", re.IGNORECASE)


@dataclass(frozen=True, order=True)
class Finding:
    path: str
    line: int
    message: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.message}"


def files(
    root: Path, suffixes: Iterable[str] = (".py",), names: Iterable[str] = ()
) -> Iterator[Path]:
    """The repository's files with these suffixes or names, outside generated and
    installed trees."""
    wanted, named = frozenset(suffixes), frozenset(names)
    for directory, subdirectories, filenames in os.walk(root):
        subdirectories[:] = sorted(d for d in subdirectories if d not in SKIPPED_DIRS)
        for filename in sorted(filenames):
            path = Path(directory, filename)
            if path.suffix in wanted or filename in named:
                yield path


def _relative(root: Path, path: Path) -> str:
    return path.relative_to(root).as_posix()


# ------------------------------------------------------------------------------ long functions
def long_functions(root: Path, limit: int = MAX_FUNCTION_LINES) -> list[Finding]:
    findings = []
    for top in FUNCTION_DIRS:
        for path in files(root / top) if (root / top).is_dir() else ():
            tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
            for node in ast.walk(tree):
                if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                    start = min([node.lineno, *(d.lineno for d in node.decorator_list)])
                    length = (node.end_lineno or node.lineno) - start + 1
                    if length > limit:
                        message = f"function {node.name} is {length} lines (at most {limit})"
                        findings.append(Finding(_relative(root, path), node.lineno, message))
    return findings


# ------------------------------------------------------------------------------ import cycles
def module_names(root: Path) -> dict[str, Path]:
    """Every Python file of the repository by the module name it is imported as."""
    modules: dict[str, Path] = {}
    for path in files(root):
        relative = path.relative_to(root)
        for python_root in PYTHON_ROOTS:
            if relative.is_relative_to(python_root):
                relative = relative.relative_to(python_root)
                break
        parts = list(relative.with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        if parts:
            modules[".".join(parts)] = path
    return modules


def _imported(node: ast.Import | ast.ImportFrom, module: str, is_package: bool) -> list[str]:
    """The module names one import statement names (a `from` import: the module and each
    name, which may be a submodule)."""
    if isinstance(node, ast.Import):
        return [alias.name for alias in node.names]
    base = node.module or ""
    if node.level:
        package = module.split(".") if is_package else module.split(".")[:-1]
        package = package[: len(package) - (node.level - 1)] if node.level > 1 else package
        base = ".".join([*package, base] if base else package)
    return [base, *(f"{base}.{alias.name}" for alias in node.names)]


def import_graph(root: Path) -> dict[str, set[str]]:
    """module -> the modules of this repository it imports (anywhere in the file)."""
    modules = module_names(root)
    graph: dict[str, set[str]] = {}
    for module, path in modules.items():
        tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
        is_package = path.name == "__init__.py"
        edges: set[str] = set()
        for node in ast.walk(tree):
            if isinstance(node, ast.Import | ast.ImportFrom):
                for name in _imported(node, module, is_package):
                    target = _resolve(name, modules)
                    if target and target != module:
                        edges.add(target)
        graph[module] = edges
    return graph


def _resolve(name: str, modules: dict[str, Path]) -> str | None:
    """The repository module a dotted name is (or is in), if any."""
    parts = name.split(".")
    while parts:
        candidate = ".".join(parts)
        if candidate in modules:
            return candidate
        parts.pop()
    return None


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    counter = 0
    for start in sorted(graph):
        if start in index:
            continue
        work = [(start, iter(sorted(graph[start])))]
        index[start] = low[start] = counter
        counter += 1
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph.get(child, ())))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component))
    return sorted(found)


def import_cycles(root: Path) -> list[Finding]:
    modules = module_names(root)
    findings = []
    for component in cycles(import_graph(root)):
        first = _relative(root, modules[component[0]])
        message = "import cycle between " + ", ".join(component)
        findings.append(Finding(first, 1, message))
    return findings


# ------------------------------------------------------------------------------ issue numbers
def _python_comments(source: str) -> Iterator[tuple[int, str]]:
    """(line, text) of every comment and docstring of a Python source."""
    for token in tokenize.generate_tokens(io.StringIO(source).readline):
        if token.type == tokenize.COMMENT:
            yield token.start[0], token.string
    tree = ast.parse(source)
    for node in ast.walk(tree):
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
            docstring = ast.get_docstring(node, clean=False)
            if docstring is not None:
                yield node.body[0].lineno, docstring


def _hash_comments(source: str) -> Iterator[tuple[int, str]]:
    for number, line in enumerate(source.splitlines(), 1):
        match = re.search(r"(?:^|\s)#(.*)$", line)
        if match:
            yield number, match.group(1)


def _slash_comments(source: str) -> Iterator[tuple[int, str]]:
    for number, line in enumerate(source.splitlines(), 1):
        match = re.search(r"(?:^|\s)(?://|/\*|\*)(.*)$", line)
        if match:
            yield number, match.group(1)


# The contract is copied as it is written, not as this repository's code is.
CONTRACT_COPIES = {"docs/API.md"}


def issue_numbers(root: Path) -> list[Finding]:
    findings = []
    suffixes = {".py", ".md"} | HASH_COMMENT_SUFFIXES | SLASH_COMMENT_SUFFIXES
    for path in files(root, suffixes, HASH_COMMENT_NAMES):
        if path.relative_to(root).as_posix() in CONTRACT_COPIES:
            continue
        source = path.read_text(encoding="utf-8", errors="replace")
        if path.suffix == ".md":  # documentation: every line is prose
            comments = iter(enumerate(source.splitlines(), 1))
        elif path.suffix == ".py":
            comments = _python_comments(source)
        elif path.suffix in SLASH_COMMENT_SUFFIXES:
            comments = _slash_comments(source)
        else:
            comments = _hash_comments(source)
        for line, text in comments:
            for offset, body_line in enumerate(text.splitlines() or [text]):
                match = ISSUE_NUMBER.search(body_line)
                if match:
                    message = (
                        f"issue number in a comment: {match.group(0)!r} (history lives in git)"
                    )
                    findings.append(Finding(_relative(root, path), line + offset, message))
    return findings


# ------------------------------------------------------------------------------ all of it
def check(root: Path = ROOT) -> list[Finding]:
    return sorted([*long_functions(root), *import_cycles(root), *issue_numbers(root)])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.structure", description=__doc__)
    parser.add_argument(
        "--root", type=Path, default=ROOT, help="the repository (default: this one)"
    )
    args = parser.parse_args(argv)
    findings = check(args.root.resolve())
    for finding in findings:
        print(finding)
    if findings:
        print(f"{len(findings)} finding(s)", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
