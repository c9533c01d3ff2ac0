"""The README and the docs: every relative link resolves to a file of the repository (and an
anchor to a heading of the page it names), and the README stays a short map."""

from __future__ import annotations

import re
import unicodedata
from pathlib import Path

import pytest

from local.template import ROOT

README_MAX_LINES = 300
DOCS = sorted(
    [
        ROOT / "README.md",
        *(ROOT / "docs").glob("*.md"),
        ROOT / "bench/README.md",
        ROOT / "web/README.md",
    ]
)

_FENCE = re.compile(r"^\s*(```|~~~)")
_CODE_SPAN = re.compile(r"(`+)(?:(?!\1).)+?\1")
_INLINE_LINK = re.compile(
    r"!?\[(?:[^\[\]]|\[[^\]]*\])*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)"
)
_REFERENCE = re.compile(r"^\s{0,3}\[[^\]]+\]:\s*<?(\S+?)>?(?:\s+\"[^\"]*\")?\s*$")
_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:")
_HEADING = re.compile(r"^\s{0,3}(#{1,6})\s+(.*?)\s*#*\s*$")


def _prose_lines(text: str) -> list[str]:
    """The lines outside fenced code blocks, with code spans blanked (no links live there)."""
    lines, fenced = [], False
    for line in text.splitlines():
        if _FENCE.match(line):
            fenced = not fenced
            continue
        if not fenced:
            lines.append(_CODE_SPAN.sub("", line))
    return lines


def links_of(text: str) -> list[str]:
    found = []
    for line in _prose_lines(text):
        found += _INLINE_LINK.findall(line)
        reference = _REFERENCE.match(line)
        if reference:
            found.append(reference.group(1))
    return found


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: its text without markup, lower case, punctuation
    dropped, spaces as hyphens."""
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", heading).replace("`", "").lower()
    kept = "".join(c for c in text if c in " -_" or unicodedata.category(c)[0] in ("L", "N", "M"))
    return kept.replace(" ", "-")


def anchors_of(text: str) -> set[str]:
    anchors: set[str] = set()
    seen: dict[str, int] = {}
    for line in text.splitlines() if text else []:
        heading = _HEADING.match(line)
        if not heading or line.startswith("    "):
            continue
        base = slug(heading.group(2))
        count = seen.get(base, 0)
        seen[base] = count + 1
        anchors.add(base if count == 0 else f"{base}-{count}")
    return anchors


def broken_links(page: Path, root: Path = ROOT) -> list[str]:
    """Every relative link of `page` that names no file or folder of the repository, or a
    heading its Markdown page does not have."""
    text = page.read_text()
    broken = []
    for link in links_of(text):
        if _SCHEME.match(link) or link.startswith("//"):
            continue  # another site: not ours to check offline
        path_part, _, anchor = link.partition("#")
        target = (page.parent / path_part).resolve() if path_part else page.resolve()
        if not target.is_relative_to(root.resolve()):
            broken.append(f"{link}: outside the repository")
            continue
        if not target.exists():
            broken.append(f"{link}: no such file")
            continue
        if anchor:
            if target.suffix != ".md":
                broken.append(f"{link}: an anchor into a file that is not Markdown")
            elif anchor not in anchors_of(target.read_text()):
                broken.append(f"{link}: {target.name} has no heading #{anchor}")
    return broken


@pytest.mark.parametrize("page", DOCS, ids=lambda page: page.relative_to(ROOT).as_posix())
def test_every_relative_link_resolves(page: Path) -> None:
    assert page.exists()
    assert broken_links(page) == []


def test_the_readme_is_a_short_map() -> None:
    lines = (ROOT / "README.md").read_text().splitlines()
    assert len(lines) <= README_MAX_LINES, f"README.md has {len(lines)} lines"


def test_a_broken_link_or_anchor_is_found(tmp_path: Path) -> None:
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs/page.md").write_text("# A page\n\n## Stopping an answer\n")
    (tmp_path / "README.md").write_text(
        "[fine](docs/page.md) [anchor](docs/page.md#stopping-an-answer) [self](#the-map)\n"
        "# The map\n"
        "[gone](docs/missing.md) [wrong anchor](docs/page.md#stop) [away](../../etc/passwd)\n"
        "`[in code](docs/nowhere.md)` [web](https://example.com/x.md)\n"
        "```\n[fenced](docs/nowhere.md)\n```\n"
        "[ref]: docs/also-missing.md\n"
    )
    assert broken_links(tmp_path / "README.md", root=tmp_path) == [
        "docs/missing.md: no such file",
        "docs/page.md#stop: page.md has no heading #stop",
        "../../etc/passwd: outside the repository",
        "docs/also-missing.md: no such file",
    ]


@pytest.mark.parametrize(
    ("heading", "anchor"),
    [
        ("How the local stack differs from AWS", "how-the-local-stack-differs-from-aws"),
        ("A file's way", "a-files-way"),
        ("Chatting from the terminal: `make chat`", "chatting-from-the-terminal-make-chat"),
        ("The cost of `GET /rooms`", "the-cost-of-get-rooms"),
    ],
)
def test_anchors_are_githubs(heading: str, anchor: str) -> None:
    assert anchor in anchors_of(f"## {heading}\n")
