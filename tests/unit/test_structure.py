"""tools.structure (`make lint`): each rule finds what it forbids in a small repository made
for the test, and nothing in one that keeps it; the repository itself keeps them all."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from tools import structure


def write(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root


def function_of(lines: int, name: str = "f") -> str:
    body = "".join(f"    x{i} = {i}\n" for i in range(lines - 2))
    return f"def {name}():\n{body}    return 0\n"


# ------------------------------------------------------------------------------ long functions
@pytest.mark.parametrize("where", ["layers/shared/chat/big.py", "functions/rooms/app.py"])
def test_a_function_over_60_lines_in_the_lambda_code_is_found(tmp_path, where):
    write(tmp_path, {where: "import os\n\n\n" + function_of(61, "too_long")})
    (finding,) = structure.long_functions(tmp_path)
    assert (finding.path, finding.line) == (where, 4)
    assert "too_long is 61 lines" in finding.message


def test_methods_and_decorators_count_and_60_lines_are_allowed(tmp_path):
    method = "\n".join("    " + line for line in function_of(60, "m").splitlines())
    write(
        tmp_path,
        {
            "layers/a.py": function_of(60),
            "layers/b.py": f"class C:\n    @staticmethod\n{method}\n",
            "tests/long.py": function_of(200),  # tests are not Lambda code
        },
    )
    (finding,) = structure.long_functions(tmp_path)
    assert finding.path == "layers/b.py" and "m is 61 lines" in finding.message


# ------------------------------------------------------------------------------ import cycles
@pytest.mark.parametrize(
    "files",
    [
        {"local/__init__.py": "", "local/a.py": "from local import b\n", "local/b.py": "import local.a\n"},
        {"tests/support/__init__.py": "", "tests/support/a.py": "from . import b\n",
         "tests/support/b.py": "from .a import thing\n"},
        {"bench/x.py": "def f():\n    from tools.y import g\n", "tools/y.py": "import bench.x\n"},
        {"layers/shared/chat/__init__.py": "", "layers/shared/chat/p.py": "from chat.q import v\n",
         "layers/shared/chat/q.py": "from chat import p\n"},
    ],
    ids=["absolute", "relative", "inside a function, across folders", "under a python root"],
)  # fmt: skip
def test_an_import_cycle_anywhere_is_found(tmp_path, files):
    write(tmp_path, files)
    (finding,) = structure.import_cycles(tmp_path)
    assert finding.message.startswith("import cycle between ")
    assert finding.message.count(",") == 1


def test_a_longer_cycle_is_one_finding_and_a_chain_is_none(tmp_path):
    write(
        tmp_path,
        {
            "pkg/__init__.py": "",
            "pkg/a.py": "import pkg.b\n",
            "pkg/b.py": "import pkg.c\n",
            "pkg/c.py": "import pkg.a\nimport json\n",
            "other/x.py": "import pkg.a\n",  # into the cycle, not part of it
        },
    )
    (finding,) = structure.import_cycles(tmp_path)
    assert finding.message == "import cycle between pkg.a, pkg.b, pkg.c"
    write(tmp_path, {"pkg/c.py": "import json\n"})
    assert structure.import_cycles(tmp_path) == []


def test_generated_and_installed_trees_are_not_read(tmp_path):
    write(tmp_path, {".venv/lib/a.py": "import b\n", ".venv/lib/b.py": "import a\n"})
    assert structure.import_cycles(tmp_path) == []


# ------------------------------------------------------------------------------ issue numbers
ISSUE = "iss" + "ue"  # spelled apart, so this file cites nothing itself


@pytest.mark.parametrize(
    ("name", "text"),
    [
        ("a.py", f"x = 1  # see {ISSUE} 15\n"),
        ("a.py", f"# the worker ({ISSUE} 11)\n"),
        ("a.py", "# fixed in #21\n"),
        ("a.py", f'"""A module ({ISSUE.title()}s 3 and 4)."""\n'),
        ("a.py", f'def f():\n    """Does it.\n\n    Since {ISSUE} #7."""\n'),
        ("Makefile", f"# ---- web client ({ISSUE} 15)\n"),
        ("template.yaml", f"Resources:  # {ISSUE} 9\n"),
        ("web/src/main.ts", f"const a = 1; // {ISSUE} 2\n"),
        ("docs/deploy.md", f"# Deploying\n\nVersions are published since {ISSUE} 20.\n"),
        ("README.md", "Fixed in #28.\n"),
    ],
)
def test_an_issue_number_in_a_comment_or_docstring_is_found(tmp_path, name, text):
    write(tmp_path, {name: text})
    (finding,) = structure.issue_numbers(tmp_path)
    assert finding.path == name and "issue number" in finding.message


@pytest.mark.parametrize(
    "text",
    [
        f'message = "{ISSUE} 15"  # a string, not a comment\n',
        '"""Messages are numbered (`#3`), so commands can name them."""\n',
        "# 2 retries, then the DLQ; color #fff is not a number\n",
        "# issues are tracked elsewhere\n",
    ],
)
def test_other_numbers_are_not_issue_numbers(tmp_path, text):
    write(tmp_path, {"a.py": text})
    assert structure.issue_numbers(tmp_path) == []


def test_the_contracts_copy_is_read_as_written(tmp_path):
    write(tmp_path, {"docs/API.md": f"Since {ISSUE} 4, messages carry a client_id.\n"})
    assert structure.issue_numbers(tmp_path) == []


# ------------------------------------------------------------------------------ the message path
def test_posting_a_message_is_steps_of_under_30_lines():
    """Store, announce, hand over: each step of the message path reads at a glance."""
    path = structure.ROOT / "layers/shared/chat/logic/conversation/messages.py"
    tree = ast.parse(path.read_text(encoding="utf-8"))
    sizes = {
        node.name: node.end_lineno - node.lineno + 1
        for node in ast.walk(tree)
        if isinstance(node, ast.FunctionDef)
    }
    steps = ("post_message", "_send", "_store", "_announce", "_subscribers")
    assert {name: sizes[name] for name in steps if sizes[name] >= 30} == {}


# ------------------------------------------------------------------------------ the command
def test_the_command_fails_on_any_finding_and_passes_on_none(tmp_path, capsys):
    write(tmp_path, {"functions/x/app.py": function_of(61)})
    assert structure.main(["--root", str(tmp_path)]) == 1
    assert "functions/x/app.py:1: function f is 61 lines" in capsys.readouterr().out
    write(tmp_path, {"functions/x/app.py": function_of(10)})
    assert structure.main(["--root", str(tmp_path)]) == 0


def test_the_repository_keeps_every_rule():
    assert [str(finding) for finding in structure.check()] == []
