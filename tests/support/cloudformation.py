"""Templates as CloudFormation reads them, offline: the local stack's resolver (parameters
validated as CloudFormation does, conditions, Fn::If, Fn::Sub) over a translated template
whose resources are given made-up identities, so that only what the parameters decide varies."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from local.symbols import LocalSymbols, Physical, Resolver, parameter_values

REGION = "us-east-1"
STACK = "stack"


class AnyAttribute(dict):
    """Every Fn::GetAtt attribute of a made-up resource: `attribute-<Name>-<logical id>`."""

    def __init__(self, logical_id: str) -> None:
        super().__init__()
        self.logical_id = logical_id

    def __contains__(self, key: object) -> bool:
        return True

    def __missing__(self, key: str) -> str:
        return f"attribute-{key}-{self.logical_id}"


def resolver(
    template: Mapping[str, Any],
    overrides: Mapping[str, str] | None = None,
    physical: Mapping[str, Physical] | None = None,
) -> Resolver:
    """A resolver of the template with these parameter values; a resource named in `physical`
    has that identity, every other one `ref-<logical id>` and made-up attributes."""
    symbols = LocalSymbols(
        template, parameter_values(template, overrides or {}), region=REGION, stack=STACK
    )
    for logical_id in template["Resources"]:
        symbols.physical[logical_id] = Physical(f"ref-{logical_id}", AnyAttribute(logical_id))
    symbols.physical.update(physical or {})
    return Resolver(template, symbols)


def as_deployed(template: Mapping[str, Any], overrides: Mapping[str, str]) -> dict[str, Any]:
    """The resources CloudFormation creates with these parameter values: those whose
    Condition is false left out, every Fn::If reduced to the branch its condition picks."""
    resolve = resolver(template, overrides)

    def pick(value: Any) -> Any:
        if isinstance(value, dict):
            if list(value) == ["Fn::If"]:
                condition, when_true, when_false = value["Fn::If"]
                return pick(when_true if resolve.condition(condition) else when_false)
            return {key: pick(item) for key, item in value.items()}
        if isinstance(value, list):
            return [pick(item) for item in value]
        return value

    return {
        logical_id: pick(resource)
        for logical_id, resource in template["Resources"].items()
        if resolve.is_created(logical_id)
    }


def parameter_value(
    template: Mapping[str, Any], logical_id: str, overrides: Mapping[str, str] | None = None
) -> str:
    """The value an AWS::SSM::Parameter of the template takes with these parameter values
    (the defaults for the others)."""
    properties = template["Resources"][logical_id]["Properties"]
    return str(resolver(template, overrides).resolve(properties["Value"]))
