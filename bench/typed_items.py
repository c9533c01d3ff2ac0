"""What a typed table item costs: the TypedDicts of chat.dal.items against pydantic models of
the same fields (what chat.models uses for the contract's shapes: `defer_build`, extra keys
ignored), each measured in fresh processes, best of RUNS (CPU time):

- "define": creating the types at import (every cold start pays it);
- "first use": the first validation of one item of each type (a pydantic model builds its
  validator then; a TypedDict is never validated: nothing);
- "per item": handing one stored item (a message, numbers as Decimal as DynamoDB gives
  them) to the logic: a TypedDict is the item itself; a model validates and copies it.

Run: PYTHONPATH=.:layers/shared .venv/bin/python bench/typed_items.py
"""

from __future__ import annotations

import json
import subprocess
import sys

RUNS = 5

_PROBE = r"""
import json, sys, time, typing
from decimal import Decimal
import pydantic
from boto3.dynamodb.types import Binary
import chat.models  # noqa: F401  what both kinds need loaded anyway
kind = sys.argv[1]
start = time.process_time()
if kind == "typeddict":
    import chat.dal.items as items
    types = [v for v in vars(items).values() if typing.is_typeddict(v)]
else:
    import chat.dal.items as items
    source = [v for v in vars(items).values() if typing.is_typeddict(v)]
    for name in ("Message", "MessageStatus", "MessageType", "Role"):  # the items' type-only imports
        setattr(items, name, getattr(chat.models, name))
    items.Binary = Binary
    start = time.process_time()  # the TypedDicts' own import is not the models' cost
    config = pydantic.ConfigDict(defer_build=True, extra="ignore", arbitrary_types_allowed=True)
    types, made = [], {}

    def modelled(hint):  # a nested item is a nested model
        if typing.is_typeddict(hint):
            return made[hint.__name__]
        args = typing.get_args(hint)
        return list[modelled(args[0])] if typing.get_origin(hint) is list else hint

    for td in source:  # chat.dal.items defines the nested items first
        fields = {}
        for name, hint in typing.get_type_hints(td, include_extras=True).items():
            optional = typing.get_origin(hint) is typing.NotRequired
            hint = typing.get_args(hint)[0] if optional else hint
            fields[name] = (modelled(hint) | None, None if optional else ...)
        made[td.__name__] = pydantic.create_model(td.__name__, __config__=config, **fields)
        types.append(made[td.__name__])
define = time.process_time() - start
message = {"room_id": "01R", "message_id": "01M", "username": "alice", "content": "hi",
           "message_type": "text", "is_bot": False, "created_at": "2026-01-01T00:00:00.000Z",
           "reactions": [{"emoji": "x", "count": Decimal(2), "usernames": ["a", "b"]}],
           "reactions_rev": Decimal(3)}
first = 0.0
if kind == "pydantic":
    start = time.process_time()
    for model in types:
        try:
            model.model_validate({})
        except pydantic.ValidationError:
            pass
    first = time.process_time() - start
    model = next(t for t in types if t.__name__ == "MessageItem")
    convert = model.model_validate
else:
    convert = lambda item: item  # noqa: E731  the item is handed on as it is
start = time.perf_counter()
for _ in range(2000):
    convert(message)
per_item = (time.perf_counter() - start) / 2000
print(json.dumps({"types": len(types), "define": define, "first": first, "per_item": per_item}))
"""


def _measure(kind: str) -> dict[str, float]:
    runs = []
    for _ in range(RUNS):
        out = subprocess.run(  # noqa: S603 - our own interpreter and probe
            [sys.executable, "-c", _PROBE, kind], capture_output=True, text=True, check=True
        ).stdout
        runs.append(json.loads(out))
    return {key: min(run[key] for run in runs) for key in runs[0]}


def main() -> None:
    print(f"typed items ({RUNS} fresh processes each, best run):")
    print(f"  {'':<22}{'types':>6}{'define':>11}{'first use':>12}{'per item':>11}")
    for kind, label in (("typeddict", "TypedDict (in use)"), ("pydantic", "pydantic models")):
        m = _measure(kind)
        print(
            f"  {label:<22}{m['types']:>6.0f}{m['define'] * 1000:>8.2f} ms"
            f"{m['first'] * 1000:>9.2f} ms{m['per_item'] * 1e6:>8.2f} µs"
        )


if __name__ == "__main__":
    main()
