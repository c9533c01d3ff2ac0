"""The template as SAM's translator makes it (what CloudFormation receives), offline."""

from __future__ import annotations

import copy
from functools import cache
from typing import Any

from samcli.lib.translate.sam_template_validator import SamTemplateValidator
from samcli.yamlhelper import yaml_parse

from local.template import load_template


class _NoManagedPolicies:
    """SAM's managed-policy loader asks IAM; the template names no managed policy by name."""

    def load(self) -> dict[str, str]:
        return {}


def translate(template: dict[str, Any]) -> dict[str, Any]:
    """A SAM template translated to plain CloudFormation (its own copy)."""
    validator = SamTemplateValidator(
        copy.deepcopy(template), _NoManagedPolicies(), region="us-east-1"
    )
    return yaml_parse(validator.get_translated_template_if_valid())


@cache
def translated() -> dict[str, Any]:
    """template.yaml, translated once per test process (callers must not change it)."""
    return translate(load_template())


# ------------------------------------------------------------------------------ as deployed
class _NoPolicies:
    def load(self) -> dict[str, str]:
        return {}


def packaged(template: dict[str, Any], content: dict[str, str] | None = None) -> dict[str, Any]:
    """The template as `sam package` leaves it: each function's CodeUri and each layer's
    ContentUri an S3 object named after its content (`content`: logical id -> a stand-in
    for what its directory holds; "1" for any not named)."""
    result = copy.deepcopy(template)
    content = content or {}
    for logical_id, resource in result["Resources"].items():
        key = {
            "AWS::Serverless::Function": "CodeUri",
            "AWS::Serverless::LayerVersion": "ContentUri",
        }
        if resource["Type"] in key:
            version = content.get(logical_id, "1")
            resource["Properties"][key[resource["Type"]]] = f"s3://artifacts/{logical_id}-{version}"
    return result


def transform(template: dict[str, Any], parameters: dict[str, str] | None = None) -> dict[str, Any]:
    """What CloudFormation's SAM transform makes of a packaged template, given the stack's
    parameter values (SAM resolves some of them itself: CodeUri, DeploymentPreference)."""
    import boto3
    from samtranslator.parser.parser import Parser
    from samtranslator.translator.translator import Translator

    translator = Translator(
        None, Parser(), boto_session=boto3.session.Session(region_name="us-east-1")
    )
    return translator.translate(
        copy.deepcopy(template),
        parameter_values=dict(parameters or {}),
        get_managed_policy_map=_NoPolicies().load,
    )
