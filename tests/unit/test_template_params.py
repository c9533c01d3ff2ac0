"""Operator parameters of template.yaml that let two stacks share an account and region:
the custom metrics' namespace (MetricsNamespace) and who owns API Gateway's account-wide
CloudWatch role (ManageApiGatewayAccountRole). Checked on the template as CloudFormation
receives it (SAM's own translator), then with each parameter value applied as CloudFormation
applies it: conditions decide which resources exist, Fn::If picks its branch, and every
reference left must name something that exists."""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Iterator
from typing import Any

import pytest
from cfnlint.api import lint
from cfnlint.decode.decode import decode_str
from cfnlint.template import Template
from networkx import has_path

from local.symbols import LocalSymbols, Physical, Resolver, TemplateError, parameter_values
from local.template import load_template, resources_of_type
from tests.support.sam import translate, translated

SOURCE = load_template()
DEFAULT_NAMESPACE = "CollabChat"
STAGES = ("AWS::ApiGateway::Stage", "AWS::ApiGatewayV2::Stage")
_SUB_NAME = re.compile(r"\$\{([^!}][^}]*)\}")


class _AnyAttribute(dict):
    """Every Fn::GetAtt attribute of a made-up resource (only parameters matter here)."""

    def __contains__(self, key: object) -> bool:
        return True

    def __missing__(self, key: str) -> str:
        return f"attribute-{key}"


def _resolver(template: dict[str, Any], overrides: dict[str, str]) -> Resolver:
    """The local stack's resolver (parameters validated as CloudFormation does), every
    resource given a made-up identity."""
    symbols = LocalSymbols(
        template, parameter_values(template, overrides), region="eu-west-1", stack="stack"
    )
    for logical_id in template["Resources"]:
        symbols.physical[logical_id] = Physical(f"ref-{logical_id}", _AnyAttribute())
    return Resolver(template, symbols)


def _as_deployed(template: dict[str, Any], overrides: dict[str, str]) -> dict[str, Any]:
    """The resources CloudFormation creates with these parameter values: those whose
    Condition is false left out, every Fn::If reduced to the branch its condition picks."""
    resolver = _resolver(template, overrides)

    def pick(value: Any) -> Any:
        if isinstance(value, dict):
            if list(value) == ["Fn::If"]:
                condition, when_true, when_false = value["Fn::If"]
                return pick(when_true if resolver.condition(condition) else when_false)
            return {key: pick(item) for key, item in value.items()}
        if isinstance(value, list):
            return [pick(item) for item in value]
        return value

    return {
        logical_id: pick(resource)
        for logical_id, resource in template["Resources"].items()
        if resolver.is_created(logical_id)
    }


def _references(value: Any) -> Iterator[str]:
    """Every name a value refers to: Ref, Fn::GetAtt, and the ${…} of Fn::Sub (not its own
    variables)."""
    if isinstance(value, dict):
        for key, item in value.items():
            if key == "Ref":
                yield item
            elif key == "Fn::GetAtt":
                yield (item.split(".", 1)[0] if isinstance(item, str) else item[0])
            elif key == "Fn::Sub":
                text, variables = (item, {}) if isinstance(item, str) else item
                for name in _SUB_NAME.findall(text):
                    if name.split(".", 1)[0] not in variables:
                        yield name.split(".", 1)[0]
                yield from _references(variables)
            else:
                yield from _references(item)
    elif isinstance(value, list):
        for item in value:
            yield from _references(item)


def _unresolved(template: dict[str, Any], resources: dict[str, Any]) -> set[tuple[str, str]]:
    """(resource, name) for every reference or DependsOn to nothing: what CloudFormation
    refuses as "Unresolved resource dependencies"."""
    known = set(template.get("Parameters") or {}) | set(resources)
    missing = set()
    for logical_id, resource in resources.items():
        depends_on = resource.get("DependsOn") or []
        names = [depends_on] if isinstance(depends_on, str) else list(depends_on)
        names += _references({k: v for k, v in resource.items() if k != "DependsOn"})
        missing |= {
            (logical_id, name)
            for name in names
            if name not in known and not name.startswith("AWS::")
        }
    return missing


def _with_default(name: str, value: str) -> dict[str, Any]:
    template = copy.deepcopy(SOURCE)
    template["Parameters"][name]["Default"] = value
    return template


def _cfn_lint_errors(template: dict[str, Any]) -> list[str]:
    return [str(m) for m in lint(json.dumps(template)) if m.rule.id.startswith("E")]


# ------------------------------------------------------------------ MetricsNamespace
def test_the_metrics_namespace_is_the_parameter_everywhere():
    parameter = SOURCE["Parameters"]["MetricsNamespace"]
    assert parameter["Default"] == DEFAULT_NAMESPACE  # deployed stacks keep their metrics
    # Nowhere else: not in the functions' environment, an alarm or the dashboard.
    rest = copy.deepcopy(SOURCE)
    del rest["Parameters"]["MetricsNamespace"]
    assert DEFAULT_NAMESPACE not in json.dumps(rest)
    env = SOURCE["Globals"]["Function"]["Environment"]["Variables"]
    assert env["POWERTOOLS_METRICS_NAMESPACE"] == {"Ref": "MetricsNamespace"}


def _alarm_namespaces(alarm: dict[str, Any]) -> list[str]:
    properties = alarm["Properties"]
    if "Namespace" in properties:
        return [properties["Namespace"]]
    return [
        m["MetricStat"]["Metric"]["Namespace"] for m in properties["Metrics"] if "MetricStat" in m
    ]


def _dashboard_namespaces(body: str) -> tuple[set[str], set[str]]:
    """Namespaces of the dashboard's metric rows, and of its SEARCH expressions' schemas."""
    rows, searched = set(), set()
    for widget in json.loads(body)["widgets"]:
        for metric in widget["properties"].get("metrics", []):
            if isinstance(metric[0], str):
                rows.add(metric[0])
            else:
                for schema in re.findall(r"SEARCH\('\{([^}]*)\}", metric[0]["expression"]):
                    searched.add(schema.split(",")[0])
    return rows, searched


def test_another_namespace_reaches_the_functions_alarms_and_dashboard():
    template = translated()
    resolver = _resolver(template, {"MetricsNamespace": "CollabChat-staging"})
    functions = resources_of_type(template, "AWS::Lambda::Function")
    assert len(functions) == 10
    for name, function in functions.items():
        env = resolver.resolve(function["Properties"]["Environment"]["Variables"])
        assert env["POWERTOOLS_METRICS_NAMESPACE"] == "CollabChat-staging", name
    custom = set()
    for alarm in resources_of_type(template, "AWS::CloudWatch::Alarm").values():
        custom |= {
            n for n in resolver.resolve(_alarm_namespaces(alarm)) if not n.startswith("AWS/")
        }
    assert custom == {"CollabChat-staging"}
    body = resolver.resolve(template["Resources"]["Dashboard"]["Properties"]["DashboardBody"])
    rows, searched = _dashboard_namespaces(body)
    assert {n for n in rows if not n.startswith("AWS/")} == {"CollabChat-staging"}
    # quoted, so that any namespace the parameter allows is one name in a SEARCH schema
    assert searched == {'"CollabChat-staging"'}


@pytest.mark.parametrize(
    "namespace", ["CollabChat", "CollabChat-staging", "team/chat.prod", "chat_2#blue", "x" * 48]
)
def test_the_namespace_pattern_accepts_cloudwatch_namespaces(namespace):
    assert (
        parameter_values(SOURCE, {"MetricsNamespace": namespace})["MetricsNamespace"] == namespace
    )


@pytest.mark.parametrize(
    "namespace", ["", "AWS/Lambda", "chat staging", 'chat"', "a:b", "x" * 49, "chät"]
)
def test_the_namespace_pattern_refuses_reserved_or_unsafe_names(namespace):
    with pytest.raises(TemplateError, match=r"does not match|longer than"):
        parameter_values(SOURCE, {"MetricsNamespace": namespace})


# ------------------------------------------------------------------ ManageApiGatewayAccountRole
def _logs_roles(resources: dict[str, Any]) -> list[str]:
    return [
        logical_id
        for logical_id, resource in resources.items()
        if resource["Type"] == "AWS::IAM::Role"
        and "AmazonAPIGatewayPushToCloudWatchLogs" in json.dumps(resource)
    ]


@pytest.mark.parametrize("manage", ["true", "false"])
def test_both_values_deploy_both_stages_with_access_logs(manage):
    template = translated()
    resources = _as_deployed(template, {"ManageApiGatewayAccountRole": manage})
    assert _unresolved(template, resources) == set()
    for stage_type in STAGES:
        (stage,) = resources_of_type({"Resources": resources}, stage_type).values()
        assert (
            "AccessLogSetting" in stage["Properties"] or "AccessLogSettings" in stage["Properties"]
        )
    accounts = resources_of_type({"Resources": resources}, "AWS::ApiGateway::Account")
    if manage == "true":
        assert list(accounts) == ["ApiGatewayAccount"]
        assert _logs_roles(resources) == ["ApiGatewayLogsRole"]
    else:  # the account's setting is left to whoever manages it
        assert accounts == {}
        assert _logs_roles(resources) == []


def test_the_stages_wait_for_the_account_role_when_the_stack_sets_it():
    decoded, errors = decode_str(json.dumps(translated()))
    assert not errors
    graph = Template("template.json", decoded, ["us-east-1"]).graph.graph
    for stage_type in STAGES:
        (stage,) = resources_of_type(translated(), stage_type)
        assert has_path(graph, stage, "ApiGatewayAccount"), stage


def test_the_unresolved_check_catches_a_dependson_on_the_conditional_account():
    broken = copy.deepcopy(translated())
    broken["Resources"]["WebSocketStage"]["DependsOn"] = "ApiGatewayAccount"
    resources = _as_deployed(broken, {"ManageApiGatewayAccountRole": "false"})
    assert _unresolved(broken, resources) == {("WebSocketStage", "ApiGatewayAccount")}


def test_the_template_validates_with_the_account_role_left_alone():
    template = _with_default("ManageApiGatewayAccountRole", "false")
    translated_false = translate(template)  # SAM's translator accepts it
    account = translated_false["Resources"]["ApiGatewayAccount"]
    assert account["Condition"] == "ManagesApiGatewayAccount"
    assert _cfn_lint_errors(template) == []
    # cfn-lint does refuse the plain DependsOn this replaces
    broken = copy.deepcopy(template)
    broken["Resources"]["WebSocketStage"]["DependsOn"] = "ApiGatewayAccount"
    assert any("E3005" in error for error in _cfn_lint_errors(broken))
