"""`make lint` runs checkov on the template as deployed with each parameter that decides
resources flipped (tools/checkov_variants.py): every such parameter gets a copy, each copy
changes that one default, and the change really flips a condition."""

from __future__ import annotations

from local.symbols import parameter_values
from local.template import load_template
from tests.support.cloudformation import resolver
from tools import checkov_variants

TEMPLATE = load_template()


def _conditions(template, overrides=None) -> dict[str, bool]:
    resolve = resolver(template, overrides)
    return {name: resolve.condition(name) for name in template["Conditions"]}


def test_every_deciding_parameter_gets_a_copy_that_flips_a_condition(tmp_path):
    written = checkov_variants.write_variants(tmp_path)
    deciding = checkov_variants.deciding_parameters(TEMPLATE)
    assert {
        "WebClient",
        "AlarmEmail",
        "BotWorkerReservedConcurrency",
        "AuthReservedConcurrency",
    } <= deciding
    assert len(written) == len(deciding)
    defaults = _conditions(TEMPLATE)
    for path in written:
        variant = load_template(path)
        changed = {
            name
            for name, spec in variant["Parameters"].items()
            if str(spec.get("Default")) != str(TEMPLATE["Parameters"][name].get("Default"))
        }
        (name,) = changed
        assert name in deciding
        value = checkov_variants.FLIPPED[name]
        assert parameter_values(TEMPLATE, {name: value})[name] == value  # a legal value
        assert _conditions(variant) != defaults, name
        assert variant["Resources"] == TEMPLATE["Resources"]
