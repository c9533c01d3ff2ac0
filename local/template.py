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
    if "StreamSpecification" in kwargs:  # CloudFormation names the view only
        kwargs["StreamSpecification"] = {"StreamEnabled": True, **kwargs["StreamSpecification"]}
    kwargs.setdefault("BillingMode", "PROVISIONED")
    if kwargs["BillingMode"] == "PROVISIONED":
        kwargs["ProvisionedThroughput"] = properties["ProvisionedThroughput"]
    return kwargs


def create_table(dynamodb_client: Any, properties: dict[str, Any], table_name: str) -> str:
    """Create one table from its CloudFormation properties, its TTL specification applied too
    so that code reading it behaves as deployed (moto never expires items; readers filter on
    the TTL attribute themselves)."""
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
    return table_name


def create_tables(
    dynamodb_client: Any, template: dict[str, Any], prefix: str = ""
) -> dict[str, str]:
    """Create every AWS::DynamoDB::Table of the template; return logical id -> table name."""
    return {
        logical_id: create_table(dynamodb_client, resource["Properties"], f"{prefix}{logical_id}")
        for logical_id, resource in resources_of_type(template, "AWS::DynamoDB::Table").items()
    }
