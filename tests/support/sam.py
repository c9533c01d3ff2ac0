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
