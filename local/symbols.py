"""Parameters, `Ref` and `Fn::GetAtt` of the local stack, for SAM CLI's intrinsic resolver.

The resolving itself is SAM CLI's (`samcli.lib.intrinsic_resolver`). What it cannot know is
given here, in its symbol table: the parameters' values (validated as CloudFormation does),
the pseudo parameters of this stack, and what `local.provision` created for each resource
(`Physical`: what `Ref` gives and the attributes `Fn::GetAtt` reads).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from samcli.lib.intrinsic_resolver.intrinsic_property_resolver import IntrinsicResolver
from samcli.lib.intrinsic_resolver.intrinsics_symbol_table import IntrinsicsSymbolTable
from samcli.lib.intrinsic_resolver.invalid_intrinsic_exception import (
    InvalidIntrinsicException,
    InvalidSymbolException,
)

from local.events import ACCOUNT_ID

PARTITION = "aws"
URL_SUFFIX = "amazonaws.com"
# Refs SAM CLI itself gives to layers ({"Ref": id}): SamFunctionProvider finds them so.
_LAYER_TYPES = ("AWS::Serverless::LayerVersion", "AWS::Lambda::LayerVersion")
# SAM's reference to the alias it publishes for a function with AutoPublishAlias:
# `!Ref Function.Alias`, or `${Function.Alias}` in a Sub, is the alias's Ref (its ARN).
_SAM_FUNCTION = "AWS::Serverless::Function"
ALIAS = "Alias"
# `${Name}` in the text of a Fn::Sub (not `${!Literal}`).
_SUB_VARIABLE = re.compile(r"\$\{([^!}][^}]*)\}")


class _NoValue:
    def __repr__(self) -> str:
        return "AWS::NoValue"


# SAM CLI's resolver makes AWS::NoValue None, then refuses None inside Fn::If: a marker
# instead, removed with its key once resolved.
NO_VALUE: Any = _NoValue()


class TemplateError(Exception):
    """The template asks for something the local stack cannot give."""


class NotCreatedYet(TemplateError):
    """A value refers to a resource that is not created yet (provisioning creates it first)."""

    def __init__(self, logical_id: str):
        super().__init__(f"{logical_id} is not created yet")
        self.logical_id = logical_id


@dataclass
class Physical:
    """A resource as created locally: what `Ref` returns and its `Fn::GetAtt` attributes."""

    ref: str
    attributes: dict[str, Any] = field(default_factory=dict)


def scalar_string(value: Any) -> str:
    """A scalar as CloudFormation stringifies it (environment variables, Ref of a Number)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


# ---------------------------------------------------------------------- parameters
def parameter_values(template: Mapping[str, Any], overrides: Mapping[str, str]) -> dict[str, Any]:
    """Every parameter's value: the override, else the default; validated like CloudFormation
    (SAM CLI passes overrides through unchecked)."""
    declared = template.get("Parameters") or {}
    unknown = sorted(set(overrides) - set(declared))
    if unknown:
        raise TemplateError(f"unknown parameter(s) in overrides: {', '.join(unknown)}")
    values: dict[str, Any] = {}
    for name, spec in declared.items():
        if name not in overrides and "Default" not in spec:
            raise TemplateError(
                f"parameter {name} has no default: pass --parameter-overrides {name}=..."
            )
        raw = overrides[name] if name in overrides else spec["Default"]
        kind = spec.get("Type", "String")
        text = ",".join(map(str, raw)) if isinstance(raw, list) else scalar_string(raw)
        if kind.startswith("List<") or kind == "CommaDelimitedList":
            values[name] = [item.strip() for item in text.split(",")] if text else []
        else:
            values[name] = text
        for item in values[name] if isinstance(values[name], list) else [text]:
            _check_parameter(name, spec, item, kind)
    return values


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


# ---------------------------------------------------------------------- symbols
class LocalSymbols(IntrinsicsSymbolTable):
    """SAM CLI's symbol table, with this stack's values first: parameters and pseudo
    parameters, then the resources' local identities. A resource with no identity yet
    raises `NotCreatedYet` (SAM CLI would answer its logical id); layers keep SAM CLI's
    own answer, which is how its function provider finds their code. SAM's `Function.Alias`
    (which its translator makes a Ref of the generated alias) is the function's local ARN
    qualified by the alias name: the local function itself, as the alias is deployed."""

    def __init__(
        self, template: Mapping[str, Any], parameters: Mapping[str, Any], *, region: str, stack: str
    ):
        self.values: dict[str, Any] = {
            "AWS::Region": region,
            "AWS::AccountId": ACCOUNT_ID,
            "AWS::StackName": stack,
            "AWS::StackId": f"arn:{PARTITION}:cloudformation:{region}:{ACCOUNT_ID}:stack/{stack}/local",
            "AWS::Partition": PARTITION,
            "AWS::URLSuffix": URL_SUFFIX,
            "AWS::NotificationARNs": [],
            "AWS::NoValue": NO_VALUE,
            **parameters,
        }
        super().__init__(template=template, logical_id_translator=dict(self.values))
        self.physical: dict[str, Physical] = {}
        self._function_globals = (template.get("Globals") or {}).get("Function") or {}

    def resolve_symbols(
        self, logical_id: str, resource_attribute: str, ignore_errors: bool = False
    ):
        attribute = resource_attribute or IntrinsicResolver.REF
        if attribute == IntrinsicResolver.REF and logical_id in self.values:
            return self.values[logical_id]
        if attribute == IntrinsicResolver.REF and "." in logical_id:  # SAM's `!Ref Function.Alias`
            logical_id, _, attribute = logical_id.partition(".")
            if attribute != ALIAS or self._type(logical_id) != _SAM_FUNCTION:
                raise TemplateError(
                    f"Ref {logical_id}.{attribute}: not emulated locally (a SAM function's .Alias is)"
                )
        if attribute == ALIAS and self._type(logical_id) == _SAM_FUNCTION:
            return f"{self.resolve_symbols(logical_id, 'Arn')}:{self.alias_name(logical_id)}"
        physical = self.physical.get(logical_id)
        if physical is not None:
            if attribute == IntrinsicResolver.REF:
                return physical.ref
            if attribute not in physical.attributes:
                raise TemplateError(f"GetAtt {logical_id}.{attribute}: not emulated locally")
            return physical.attributes[attribute]
        resource_type = self._type(logical_id)
        if resource_type is None:
            raise TemplateError(f"{attribute} {logical_id}: no such parameter or resource")
        if resource_type in _LAYER_TYPES and attribute == IntrinsicResolver.REF:
            return super().resolve_symbols(logical_id, attribute, ignore_errors)
        raise NotCreatedYet(logical_id)

    def _type(self, logical_id: str) -> str | None:
        return (self._resources.get(logical_id) or {}).get("Type")

    def alias_name(self, logical_id: str) -> str:
        """The AutoPublishAlias of a SAM function (its own, else the Globals'), a name or a
        parameter's Ref as SAM accepts it."""
        properties = self._resources[logical_id].get("Properties") or {}
        name = properties.get("AutoPublishAlias", self._function_globals.get("AutoPublishAlias"))
        if isinstance(name, dict) and list(name) == ["Ref"] and name["Ref"] in self.values:
            name = self.values[name["Ref"]]
        if not name or not isinstance(name, str):
            raise TemplateError(f"{logical_id}.{ALIAS}: {logical_id} has no AutoPublishAlias name")
        return name


class Resolver:
    """SAM CLI's IntrinsicResolver over the template with `LocalSymbols`, plus what it lacks:
    the `Condition` function, resources' `Condition`, AWS::NoValue removing the key, and the
    variables of `Fn::Sub`."""

    def __init__(self, template: Mapping[str, Any], symbols: LocalSymbols):
        self.template = template
        self.symbols = symbols
        self._sam = IntrinsicResolver(template=template, symbol_resolver=symbols)
        self._sam.set_intrinsic_key_function_map(
            {**self._sam.default_intrinsic_function_map(), IntrinsicResolver.FN_SUB: self._sub}
        )
        self._sam.set_conditional_function_map(
            {
                **self._sam.default_conditional_key_map(),
                "Condition": lambda name, ignore_errors: self.condition(name),
            }
        )
        self._conditions: dict[str, bool] = {}

    def resolve(self, value: Any) -> Any:
        try:
            return _without_no_value(self._sam.intrinsic_property_resolver(value, False))
        except (InvalidIntrinsicException, InvalidSymbolException) as exc:
            raise TemplateError(str(exc)) from None

    def resolve_leniently(self, value: Any) -> Any:
        """What can be resolved, the rest left as it is (as `sam local` reads a template)."""
        return _without_no_value(self._sam.intrinsic_property_resolver(value, True))

    def _sub(self, value: Any, ignore_errors: bool) -> Any:
        """`Fn::Sub` with variables (`[text, {Name: value}]`) substituted here: SAM CLI resolves
        a variable's value, then looks that value up again as a logical id. The rest of the
        text (`${Param}`, `${Resource.Attribute}` …) is SAM CLI's."""
        if isinstance(value, list) and len(value) == 2 and isinstance(value[1], dict):
            resolve = self._sam.intrinsic_property_resolver
            text = resolve(value[0], ignore_errors, parent_function=IntrinsicResolver.FN_SUB)
            variables = resolve(value[1], ignore_errors, parent_function=IntrinsicResolver.FN_SUB)
            if isinstance(text, str):
                value = _SUB_VARIABLE.sub(
                    lambda match: (
                        scalar_string(variables[match.group(1)])
                        if match.group(1) in variables
                        else match.group(0)
                    ),
                    text,
                )
        return self._sam.handle_fn_sub(value, ignore_errors)

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


def _without_no_value(value: Any) -> Any:
    if isinstance(value, dict):
        return {key: _without_no_value(item) for key, item in value.items() if item is not NO_VALUE}
    if isinstance(value, list):
        return [_without_no_value(item) for item in value if item is not NO_VALUE]
    return value
