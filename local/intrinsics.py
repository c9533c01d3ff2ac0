"""CloudFormation intrinsic functions, resolved against the local stack.

`Resolver.resolve` turns a template value (with `Ref`, `Fn::GetAtt`, `Fn::Sub`, `Fn::If` …
in their long form, as `load_template` returns them) into a plain value, using the
parameters' values, the pseudo parameters and what `local.provision` created for each
resource (`Physical`: what `Ref` gives and the attributes `Fn::GetAtt` reads).
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

ACCOUNT_ID = "123456789012"  # moto's default account
PARTITION = "aws"
URL_SUFFIX = "amazonaws.com"


class TemplateError(Exception):
    """The template asks for something the local stack cannot give."""


class _NoValue:
    def __repr__(self) -> str:
        return "AWS::NoValue"


NO_VALUE: Any = _NoValue()

_SUB_VARIABLE = re.compile(r"\$\{([^}]*)\}")


@dataclass
class Physical:
    """A resource as created locally: what `Ref` returns and its `Fn::GetAtt` attributes."""

    ref: str
    attributes: dict[str, Any] = field(default_factory=dict)


def parameter_values(template: Mapping[str, Any], overrides: Mapping[str, str]) -> dict[str, Any]:
    """Every parameter's value: the override, else the default; validated like CloudFormation."""
    declared = template.get("Parameters") or {}
    unknown = sorted(set(overrides) - set(declared))
    if unknown:
        raise TemplateError(f"unknown parameter(s) in overrides: {', '.join(unknown)}")
    values: dict[str, Any] = {}
    for name, spec in declared.items():
        if name in overrides:
            raw = overrides[name]
        elif "Default" in spec:
            raw = spec["Default"]
        else:
            raise TemplateError(
                f"parameter {name} has no default: pass --parameter-overrides {name}=..."
            )
        values[name] = _parameter_value(name, spec, raw)
    return values


def _parameter_value(name: str, spec: Mapping[str, Any], raw: Any) -> Any:
    kind = spec.get("Type", "String")
    text = scalar_string(raw) if not isinstance(raw, list) else ",".join(map(str, raw))
    if kind.startswith("List<") or kind == "CommaDelimitedList":
        items = [item.strip() for item in text.split(",")] if text else []
        for item in items:
            _check_parameter(name, spec, item, kind)
        return items
    _check_parameter(name, spec, text, kind)
    return text


def _check_parameter(name: str, spec: Mapping[str, Any], value: str, kind: str) -> None:
    allowed = spec.get("AllowedValues")
    if allowed is not None and value not in [scalar_string(v) for v in allowed]:
        raise TemplateError(f"parameter {name}={value!r} is not one of {allowed}")
    pattern = spec.get("AllowedPattern")
    if pattern is not None and not re.fullmatch(pattern, value):
        raise TemplateError(f"parameter {name}={value!r} does not match {pattern}")
    if kind in ("Number", "List<Number>"):
        try:
            number = float(value)
        except ValueError:
            raise TemplateError(f"parameter {name}={value!r} is not a number") from None
        if "MinValue" in spec and number < float(spec["MinValue"]):
            raise TemplateError(f"parameter {name}={value} is below {spec['MinValue']}")
        if "MaxValue" in spec and number > float(spec["MaxValue"]):
            raise TemplateError(f"parameter {name}={value} is above {spec['MaxValue']}")
    if "MinLength" in spec and len(value) < int(spec["MinLength"]):
        raise TemplateError(f"parameter {name} is shorter than {spec['MinLength']}")
    if "MaxLength" in spec and len(value) > int(spec["MaxLength"]):
        raise TemplateError(f"parameter {name} is longer than {spec['MaxLength']}")


def scalar_string(value: Any) -> str:
    """A scalar as CloudFormation stringifies it (environment variables, Ref of a Number)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


class Resolver:
    def __init__(
        self,
        template: Mapping[str, Any],
        *,
        parameters: Mapping[str, Any],
        region: str,
        stack_name: str,
        physical: dict[str, Physical] | None = None,
    ):
        self.template = template
        self.parameters = dict(parameters)
        self.region = region
        self.stack_name = stack_name
        self.physical: dict[str, Physical] = physical if physical is not None else {}
        self.pseudo = {
            "AWS::Region": region,
            "AWS::AccountId": ACCOUNT_ID,
            "AWS::StackName": stack_name,
            "AWS::StackId": f"arn:{PARTITION}:cloudformation:{region}:{ACCOUNT_ID}:stack/{stack_name}/local",
            "AWS::Partition": PARTITION,
            "AWS::URLSuffix": URL_SUFFIX,
            "AWS::NotificationARNs": [],
        }
        self._conditions: dict[str, bool] = {}

    # ------------------------------------------------------------------ conditions
    def condition(self, name: str) -> bool:
        if name not in self._conditions:
            definitions = self.template.get("Conditions") or {}
            if name not in definitions:
                raise TemplateError(f"unknown condition {name}")
            self._conditions[name] = bool(self.resolve(definitions[name]))
        return self._conditions[name]

    def is_created(self, logical_id: str) -> bool:
        """False for a resource whose `Condition` is false (CloudFormation skips it)."""
        condition = self.template["Resources"][logical_id].get("Condition")
        return condition is None or self.condition(condition)

    # ------------------------------------------------------------------ values
    def resolve(self, value: Any) -> Any:
        if isinstance(value, Mapping):
            if len(value) == 1:
                ((key, argument),) = value.items()
                handler = _FUNCTIONS.get(key)
                if handler is not None:
                    return handler(self, argument)
            resolved = {key: self.resolve(item) for key, item in value.items()}
            return {key: item for key, item in resolved.items() if item is not NO_VALUE}
        if isinstance(value, list):
            return [item for item in (self.resolve(item) for item in value) if item is not NO_VALUE]
        return value

    def ref(self, name: str) -> Any:
        if name == "AWS::NoValue":
            return NO_VALUE
        if name in self.pseudo:
            return self.pseudo[name]
        if name in self.parameters:
            return self.parameters[name]
        if name in self.physical:
            return self.physical[name].ref
        if name in self.template.get("Resources", {}):
            raise TemplateError(f"Ref {name}: the resource is not created yet or not emulated")
        raise TemplateError(f"Ref {name}: no such parameter or resource")

    def get_att(self, logical_id: str, attribute: str) -> Any:
        physical = self.physical.get(logical_id)
        if physical is None:
            raise TemplateError(
                f"GetAtt {logical_id}.{attribute}: the resource is not created yet or not emulated"
            )
        if attribute not in physical.attributes:
            raise TemplateError(f"GetAtt {logical_id}.{attribute}: attribute not emulated locally")
        return physical.attributes[attribute]

    def sub(self, text: str, variables: Mapping[str, Any]) -> str:
        def replace(match: re.Match[str]) -> str:
            name = match.group(1)
            if name.startswith("!"):
                return "${" + name[1:] + "}"
            if name in variables:
                return scalar_string(variables[name])
            if "." in name and not name.startswith("AWS::"):
                logical_id, attribute = name.split(".", 1)
                return scalar_string(self.get_att(logical_id, attribute))
            return scalar_string(self.ref(name))

        return _SUB_VARIABLE.sub(replace, text)


# ---------------------------------------------------------------------- functions
def _ref(resolver: Resolver, argument: Any) -> Any:
    return resolver.ref(resolver.resolve(argument))


def _get_att(resolver: Resolver, argument: Any) -> Any:
    argument = resolver.resolve(argument)
    if isinstance(argument, str):
        argument = argument.split(".", 1)
    logical_id, attribute = argument
    return resolver.get_att(logical_id, attribute)


def _sub(resolver: Resolver, argument: Any) -> str:
    if isinstance(argument, list):
        text, variables = argument
        return resolver.sub(text, {name: resolver.resolve(v) for name, v in variables.items()})
    return resolver.sub(argument, {})


def _join(resolver: Resolver, argument: Any) -> str:
    delimiter, items = argument
    return delimiter.join(scalar_string(item) for item in resolver.resolve(items))


def _select(resolver: Resolver, argument: Any) -> Any:
    index, items = resolver.resolve(argument)
    return items[int(index)]


def _split(resolver: Resolver, argument: Any) -> list[str]:
    delimiter, text = resolver.resolve(argument)
    return text.split(delimiter)


def _if(resolver: Resolver, argument: Any) -> Any:
    name, when_true, when_false = argument
    return resolver.resolve(when_true if resolver.condition(name) else when_false)


def _equals(resolver: Resolver, argument: Any) -> bool:
    left, right = resolver.resolve(argument)
    return scalar_string(left) == scalar_string(right)


def _not(resolver: Resolver, argument: Any) -> bool:
    (value,) = argument
    return not resolver.resolve(value)


def _and(resolver: Resolver, argument: Any) -> bool:
    return all(resolver.resolve(item) for item in argument)


def _or(resolver: Resolver, argument: Any) -> bool:
    return any(resolver.resolve(item) for item in argument)


def _condition(resolver: Resolver, argument: Any) -> bool:
    return resolver.condition(argument)


def _find_in_map(resolver: Resolver, argument: Any) -> Any:
    map_name, first, second = resolver.resolve(argument)[:3]
    try:
        return resolver.template["Mappings"][map_name][first][second]
    except KeyError:
        raise TemplateError(f"FindInMap {map_name}/{first}/{second}: no such entry") from None


def _base64(resolver: Resolver, argument: Any) -> str:
    return base64.b64encode(scalar_string(resolver.resolve(argument)).encode()).decode()


def _get_azs(resolver: Resolver, argument: Any) -> list[str]:
    region = resolver.resolve(argument) or resolver.region
    return [f"{region}{zone}" for zone in "abc"]


def _to_json_string(resolver: Resolver, argument: Any) -> str:
    return json.dumps(resolver.resolve(argument), separators=(",", ":"))


def _length(resolver: Resolver, argument: Any) -> int:
    return len(resolver.resolve(argument))


def _unsupported(name: str):
    def handler(resolver: Resolver, argument: Any) -> Any:
        raise TemplateError(f"{name} is not supported by the local stack")

    return handler


_FUNCTIONS = {
    "Ref": _ref,
    "Fn::GetAtt": _get_att,
    "Fn::Sub": _sub,
    "Fn::Join": _join,
    "Fn::Select": _select,
    "Fn::Split": _split,
    "Fn::If": _if,
    "Fn::Equals": _equals,
    "Fn::Not": _not,
    "Fn::And": _and,
    "Fn::Or": _or,
    "Condition": _condition,
    "Fn::FindInMap": _find_in_map,
    "Fn::Base64": _base64,
    "Fn::GetAZs": _get_azs,
    "Fn::ToJsonString": _to_json_string,
    "Fn::Length": _length,
    "Fn::ImportValue": _unsupported("Fn::ImportValue"),
    "Fn::Cidr": _unsupported("Fn::Cidr"),
    "Fn::Transform": _unsupported("Fn::Transform"),
}


def references(value: Any) -> set[str]:
    """Logical ids (and parameters) a template value refers to: for ordering the creation."""
    found: set[str] = set()
    if isinstance(value, Mapping):
        for key, argument in value.items():
            if key == "Ref" and isinstance(argument, str):
                found.add(argument)
            elif key == "Fn::GetAtt":
                target = argument.split(".", 1)[0] if isinstance(argument, str) else argument[0]
                if isinstance(target, str):
                    found.add(target)
            elif key == "Fn::Sub":
                text = argument[0] if isinstance(argument, list) else argument
                if isinstance(text, str):
                    for name in _SUB_VARIABLE.findall(text):
                        if not name.startswith("!"):
                            found.add(
                                name.split(".", 1)[0] if not name.startswith("AWS::") else name
                            )
                if isinstance(argument, list) and len(argument) > 1:
                    found |= references(argument[1])
            else:
                found |= references(argument)
    elif isinstance(value, list):
        for item in value:
            found |= references(item)
    return found
