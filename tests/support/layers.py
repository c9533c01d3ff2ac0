"""What a Lambda layer ships, for tests that check a function needs nothing more: a lock
file's pins, and the packages a layer leaves out made unimportable in a fresh process (the
development environment has every package installed)."""

from __future__ import annotations

import importlib.abc
import re
import sys
from collections.abc import Iterable


def canonical(name: str) -> str:
    """A distribution's name as pip compares them."""
    return re.sub(r"[-_.]+", "-", name).lower()


def pins(text: str) -> dict[str, str]:
    """name -> version of a requirements or lock file (comments are packages left out)."""
    found = {}
    for line in text.splitlines():
        line = line.split("#", 1)[0].strip()
        if "==" in line:
            name, version = line.split("==", 1)
            found[canonical(name.split("[")[0])] = version.split()[0].rstrip("\\").strip()
    return found


class NotShipped(importlib.abc.MetaPathFinder):
    """Refuses to import the top-level modules it is given, as on a Lambda without them."""

    def __init__(self, modules: Iterable[str]) -> None:
        self.modules = frozenset(modules)

    def find_spec(self, name: str, path: object = None, target: object = None) -> None:
        if name.partition(".")[0] in self.modules:
            raise ModuleNotFoundError(f"No module named {name!r} (not in the layers)", name=name)
        return None


def block(modules: Iterable[str]) -> None:
    """From now on, in this process, these top-level modules cannot be imported."""
    sys.meta_path.insert(0, NotShipped(modules))
