"""The metrics a function printed (CloudWatch embedded metric format, one JSON document a
line on stdout): what Powertools' `metrics` and `single_metric` emit."""

from __future__ import annotations

import json
from dataclasses import dataclass


@dataclass(frozen=True)
class Emitted:
    name: str
    values: list[float]  # EMF gives one value, or a list of them
    dimensions: dict[str, str]


def emitted(output: str) -> list[Emitted]:
    found = []
    for line in output.splitlines():
        line = line.strip()
        if not line.startswith("{") or '"_aws"' not in line:
            continue
        document = json.loads(line)
        for directive in document["_aws"]["CloudWatchMetrics"]:
            dimensions = {name: document[name] for name in directive["Dimensions"][0]}
            for metric in directive["Metrics"]:
                value = document[metric["Name"]]
                values = [float(v) for v in (value if isinstance(value, list) else [value])]
                found.append(Emitted(metric["Name"], values, dimensions))
    return found


def named(output: str, name: str) -> list[Emitted]:
    return [metric for metric in emitted(output) if metric.name == name]


def total(output: str, name: str) -> float:
    """The sum of every value of a metric printed."""
    return sum(sum(metric.values) for metric in named(output, name))
