"""Reading template.yaml: the one description of the stack that tests and the local stack use.

Tables, queues and routes are created from the template's own definitions so that the
tests, the local stack and the deployed stack cannot drift apart.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

from samcli.yamlhelper import yaml_parse

ROOT = Path(__file__).resolve().parent.parent
TEMPLATE_PATH = ROOT / "template.yaml"

# Properties of AWS::DynamoDB::Table that CreateTable accepts as they are.
_CREATE_TABLE_KEYS = (
    "AttributeDefinitions",
    "KeySchema",
    "GlobalSecondaryIndexes",
    "LocalSecondaryIndexes",
    "BillingMode",
    "StreamSpecification",
)


@cache
def load_template(path: Path = TEMPLATE_PATH) -> dict[str, Any]:
    """The template as a dict, short-form intrinsics (!Ref, !Sub …) in their long form."""
    return yaml_parse(Path(path).read_text())


def resources_of_type(template: dict[str, Any], resource_type: str) -> dict[str, dict[str, Any]]:
    return {
        logical_id: resource
        for logical_id, resource in template["Resources"].items()
        if resource["Type"] == resource_type
    }


def create_table_kwargs(properties: dict[str, Any], table_name: str) -> dict[str, Any]:
    """Translate a table's CloudFormation properties into DynamoDB CreateTable arguments."""
    kwargs: dict[str, Any] = {"TableName": table_name}
    for key in _CREATE_TABLE_KEYS:
        if key in properties:
            kwargs[key] = properties[key]
    kwargs.setdefault("BillingMode", "PROVISIONED")
    if kwargs["BillingMode"] == "PROVISIONED":
        kwargs["ProvisionedThroughput"] = properties["ProvisionedThroughput"]
    return kwargs


def create_tables(
    dynamodb_client: Any, template: dict[str, Any], prefix: str = ""
) -> dict[str, str]:
    """Create every AWS::DynamoDB::Table of the template; return logical id -> table name.

    TTL specifications are applied too, so that code reading them behaves as deployed
    (moto never expires items; readers filter on the TTL attribute themselves).
    """
    names: dict[str, str] = {}
    for logical_id, resource in resources_of_type(template, "AWS::DynamoDB::Table").items():
        properties = resource["Properties"]
        table_name = f"{prefix}{logical_id}"
        dynamodb_client.create_table(**create_table_kwargs(properties, table_name))
        ttl = properties.get("TimeToLiveSpecification")
        if ttl:
            dynamodb_client.update_time_to_live(
                TableName=table_name,
                TimeToLiveSpecification={
                    "AttributeName": ttl["AttributeName"],
                    "Enabled": bool(ttl["Enabled"]),
                },
            )
        names[logical_id] = table_name
    return names


# ---------------------------------------------------------------------- added for the local stack
FUNCTION_TYPE = "AWS::Serverless::Function"


def _is_intrinsic(value: Any) -> bool:
    return (
        isinstance(value, dict)
        and len(value) == 1
        and next(iter(value)).startswith(("Ref", "Fn::"))
    )


def merge_globals(global_value: Any, local_value: Any) -> Any:
    """SAM's Globals rule: maps merge (the function wins), lists add up, scalars are replaced."""
    if (
        isinstance(global_value, dict)
        and isinstance(local_value, dict)
        and not _is_intrinsic(global_value)
        and not _is_intrinsic(local_value)
    ):
        merged = dict(global_value)
        for key, value in local_value.items():
            merged[key] = merge_globals(global_value[key], value) if key in global_value else value
        return merged
    if isinstance(global_value, list) and isinstance(local_value, list):
        return [*global_value, *local_value]
    return local_value


def serverless_functions(template: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Every AWS::Serverless::Function's properties with Globals.Function merged in."""
    globals_ = (template.get("Globals") or {}).get("Function") or {}
    return {
        logical_id: merge_globals(dict(globals_), dict(resource.get("Properties") or {}))
        for logical_id, resource in resources_of_type(template, FUNCTION_TYPE).items()
    }


def function_events(properties: dict[str, Any], event_type: str) -> dict[str, dict[str, Any]]:
    """A function's `Events` of one type (Api, SQS …): event name -> its Properties."""
    return {
        name: event.get("Properties") or {}
        for name, event in (properties.get("Events") or {}).items()
        if event.get("Type") == event_type
    }
