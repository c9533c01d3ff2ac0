"""Packages whose `__init__` is run in parts, as its names are used (a cold-start cut).

Powertools' `aws_lambda_powertools.event_handler` and `...utilities.data_classes` packages
import every resolver and every event class in their `__init__`: AppSync (with asyncio),
Bedrock, VPC Lattice, Kinesis, S3... The REST handlers use the API Gateway resolver and one
event class, and paid 20-30 ms of CPU per cold start for the rest (bench/cold_start.py).

`defer_init(name)` puts the package in `sys.modules` without running its `__init__`. A name
it exports is imported from the submodule its `__init__` takes it from (read from that file's
`from ... import` statements), when first asked for; a submodule is imported as usual. So
`from aws_lambda_powertools.event_handler import APIGatewayRestResolver` loads `api_gateway`
only, and any other name still resolves to the same object as with a plain import.

It must run before anything imports the package; after that it does nothing.
"""

from __future__ import annotations

import ast
import importlib
import importlib.util
import sys
from functools import cache
from types import ModuleType


def _exported_from(package: str, init_path: str) -> dict[str, tuple[str, str]]:
    """name -> (module, name there), from the `from X import Y` statements of an __init__."""
    with open(init_path, "rb") as source:
        tree = ast.parse(source.read(), init_path)
    exported: dict[str, tuple[str, str]] = {}
    for node in tree.body:
        if not isinstance(node, ast.ImportFrom) or not node.module or node.level > 1:
            continue
        module = node.module if node.level == 0 else f"{package}.{node.module}"
        for alias in node.names:
            exported[alias.asname or alias.name] = (module, alias.name)
    return exported


def defer_init(package: str) -> None:
    """Load `package` lazily (see the module docstring); a no-op once it is imported."""
    if package in sys.modules:
        return
    spec = importlib.util.find_spec(package)
    if spec is None or spec.origin is None or spec.submodule_search_locations is None:
        raise ImportError(f"{package} is not a package with an __init__")
    module = importlib.util.module_from_spec(spec)
    init_path = spec.origin

    @cache
    def exported() -> dict[str, tuple[str, str]]:  # read at the first name asked for
        return _exported_from(package, init_path)

    def __getattr__(name: str) -> object:  # PEP 562: only names not yet in the module
        value: object
        if name == "__all__":  # `from package import *`
            value = sorted(exported())
        elif name in exported():
            source, original = exported()[name]
            value = getattr(importlib.import_module(source), original)
        elif not name.startswith("__") and importlib.util.find_spec(f"{package}.{name}"):
            value = importlib.import_module(f"{package}.{name}")
        else:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        setattr(module, name, value)
        return value

    def __dir__() -> list[str]:
        return sorted({*module.__dict__, *exported()})

    module.__getattr__ = __getattr__  # type: ignore[method-assign]
    module.__dir__ = __dir__  # type: ignore[method-assign]
    sys.modules[package] = module
    _bind_to_parent(package, module)


def _bind_to_parent(package: str, module: ModuleType) -> None:
    # As the import system does: `import a.b` leaves `b` as an attribute of `a`.
    parent, _, child = package.rpartition(".")
    if parent:
        setattr(importlib.import_module(parent), child, module)
