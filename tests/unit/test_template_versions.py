"""Every deploy that changes what a function runs publishes a new version, and `live` (which
every API, the authorizer and the queue invoke) moves to it.

Checked as CloudFormation would see it: the template as `sam package` leaves it, translated by
SAM's own translator with the stack's parameter values (CloudFormation runs the same
transform), then resolved with those values. A function's *version* is its
`AWS::Lambda::Version`: CloudFormation publishes a new one when its logical id changes (SAM
hashes the function's properties as written, and a layer's content) or when a property it
cannot update changes (`Description`: each function's VersionDescription lists the
parameter values it runs with). What a function *runs* is every property of the resolved
`AWS::Lambda::Function` that a version snapshots (code, layers, environment, memory,
timeout, logging, SnapStart, …).
"""

from __future__ import annotations

import copy
import re
from functools import cache
from typing import Any

import pytest

from local.symbols import parameter_values
from local.template import load_template, resources_of_type
from tests.support.cloudformation import resolver
from tests.support.sam import packaged, transform

SOURCE = load_template()
PARAMETERS = SOURCE["Parameters"]
FUNCTIONS = sorted(resources_of_type(SOURCE, "AWS::Serverless::Function"))
# What Lambda keeps per function, not per version.
NOT_VERSIONED = {"ReservedConcurrentExecutions", "Tags"}
# Properties of AWS::Lambda::Version that CloudFormation cannot update: a new value is a new
# version ("Update requires: Replacement").
REPLACING = ("FunctionName", "Description", "CodeSha256")
DESCRIPTION_LIMIT = 256  # Lambda's limit on a version's description

# Another legal value of each free-text parameter (the others: another allowed value, or
# the number next to the default).
OTHER_TEXT = {
    "StageName": "v2",
    "CorsAllowOrigin": "https://chat.example.com",
    "DefaultBotModel": "gemini-2.5-pro",
    "SharedGeminiKeySecretArn": (
        "arn:aws:secretsmanager:us-east-1:123456789012:secret:collab-chat/gemini-AbCdEf"
    ),
    "MetricsNamespace": "CollabChat-staging",
    "AlarmEmail": "ops@example.com",
}


def other_value(name: str) -> str:
    spec = PARAMETERS[name]
    default = str(spec.get("Default"))
    if "AllowedValues" in spec:
        return next(str(v) for v in spec["AllowedValues"] if str(v) != default)
    if spec["Type"] == "Number":
        higher = int(default) + 1
        return str(higher if higher <= spec.get("MaxValue", higher) else int(default) - 1)
    return OTHER_TEXT[name]


@cache
def deployed(parameters: tuple[tuple[str, str], ...] = (), content: tuple = ()) -> dict[str, Any]:
    """The stack's resources as CloudFormation makes them with these parameter values and
    this content of the code directories: function -> (what it runs, its version)."""
    values = dict(parameters)
    parameter_values(SOURCE, values)  # a legal value, as CloudFormation checks it
    template = transform(packaged(SOURCE, dict(content)), values)
    resolve = resolver(template, values)
    runs = {
        name: resolve.resolve(
            {k: v for k, v in function["Properties"].items() if k not in NOT_VERSIONED}
        )
        for name, function in resources_of_type(template, "AWS::Lambda::Function").items()
    }
    versions = {}
    for logical_id, version in resources_of_type(template, "AWS::Lambda::Version").items():
        properties = version["Properties"]
        fixed = {k: resolve.resolve(v) for k, v in properties.items() if k in REPLACING}
        versions[properties["FunctionName"]["Ref"]] = (logical_id, fixed)
    aliases = {
        alias["Properties"]["FunctionName"]["Ref"]: alias["Properties"]["FunctionVersion"]
        for alias in resources_of_type(template, "AWS::Lambda::Alias").values()
    }
    return {"runs": runs, "versions": versions, "aliases": aliases}


def changed(before: dict[str, Any], after: dict[str, Any], what: str) -> set[str]:
    return {name for name in FUNCTIONS if before[what][name] != after[what][name]}


# ------------------------------------------------------------------------------ parameters
@pytest.mark.parametrize("name", sorted(PARAMETERS))
def test_a_changed_parameter_publishes_a_version_of_exactly_the_functions_it_reaches(name):
    before, after = deployed(), deployed(((name, other_value(name)),))
    reached = changed(before, after, "runs")
    assert changed(before, after, "versions") == reached, (name, reached)


def test_the_parameters_that_reach_functions_reach_the_expected_ones():
    def reached(name: str) -> set[str]:
        return changed(deployed(), deployed(((name, other_value(name)),)), "runs")

    everyone = set(FUNCTIONS)
    assert reached("LogLevel") == everyone  # environment and Lambda's log level
    assert reached("SnapStart") == everyone
    assert reached("StageName") == everyone  # the WebSocket management URL
    assert reached("BcryptCost") == {"AuthFunction", "AccountFunction"}
    assert reached("CorsAllowOrigin") == {
        "AuthFunction",
        "RoomsFunction",
        "SearchFunction",
        "AccountFunction",
    }
    assert reached("SharedGeminiKeySecretArn") == {"BotWorkerFunction"}
    assert reached("BotRoomCommandsPerMinute") == {"RoomsFunction", "WsMessageFunction"}
    assert reached("AlarmEmail") == set()
    assert reached("BotWorkerReservedConcurrency") == set()  # per function, not per version


def test_other_values_are_legal_and_every_free_text_parameter_has_one():
    for name, spec in PARAMETERS.items():
        if "AllowedValues" not in spec and spec["Type"] != "Number":
            assert name in OTHER_TEXT, f"give {name} another value in OTHER_TEXT"
        assert parameter_values(SOURCE, {name: other_value(name)})[name] == other_value(name)


# ------------------------------------------------------------------------------ code and layers
@pytest.mark.parametrize("layer", ["SharedLayer", "DependenciesLayer"])
def test_a_changed_layer_publishes_a_version_of_every_function(layer):
    before, after = deployed(), deployed(content=((layer, "2"),))
    assert changed(before, after, "runs") == set(FUNCTIONS)  # its new layer version
    for name in FUNCTIONS:  # a new logical id: CloudFormation creates a new version
        assert before["versions"][name][0] != after["versions"][name][0], name


@pytest.mark.parametrize("function", FUNCTIONS)
def test_changed_code_publishes_a_version_of_that_function_only(function):
    before, after = deployed(), deployed(content=((function, "2"),))
    assert changed(before, after, "runs") == {function}
    assert changed(before, after, "versions") == {function}
    assert before["versions"][function][0] != after["versions"][function][0]


@pytest.mark.parametrize(
    ("where", "key", "value"),
    [
        (("Globals", "Function"), "MemorySize", 1024),
        (("Globals", "Function"), "Timeout", 20),
        (("Resources", "BotWorkerFunction", "Properties"), "Timeout", 100),
        (("Resources", "RoomsFunction", "Properties", "Environment", "Variables"), "X", "1"),
    ],
)
def test_a_changed_property_publishes_a_version_of_each_function_it_changes(where, key, value):
    source = copy.deepcopy(SOURCE)
    node = source
    for part in where:
        node = node[part]
    node[key] = value
    before = transform(packaged(SOURCE))
    after = transform(packaged(source))
    ids = {
        template_name: {
            v["Properties"]["FunctionName"]["Ref"]: logical_id
            for logical_id, v in resources_of_type(template, "AWS::Lambda::Version").items()
        }
        for template_name, template in (("before", before), ("after", after))
    }
    functions = resources_of_type(after, "AWS::Lambda::Function")
    old = resources_of_type(before, "AWS::Lambda::Function")
    touched = {name for name in FUNCTIONS if functions[name] != old[name]}
    assert touched
    assert {n for n in FUNCTIONS if ids["before"][n] != ids["after"][n]} == touched


def test_live_is_the_version_published_last():
    for name, version in deployed()["aliases"].items():
        (logical_id, _) = deployed()["versions"][name]
        assert version == {"Fn::GetAtt": [logical_id, "Version"]}, name


# ------------------------------------------------------------------------------ the description
def _longest(name: str) -> str:
    """The longest value CloudFormation lets the parameter take (for a length bound)."""
    spec = PARAMETERS[name]
    if "AllowedValues" in spec:
        return max((str(v) for v in spec["AllowedValues"]), key=len)
    if spec["Type"] == "Number":
        assert "MaxValue" in spec, f"{name} reaches a VersionDescription: give it a MaxValue"
        return str(spec["MaxValue"])
    assert "MaxLength" in spec, f"{name} reaches a VersionDescription: give it a MaxLength"
    return "x" * int(spec["MaxLength"])


def test_every_version_description_fits_lambdas_limit_at_the_longest_values():
    for name in FUNCTIONS:
        text = SOURCE["Resources"][name]["Properties"]["VersionDescription"]["Fn::Sub"]

        def value(match: re.Match[str]) -> str:
            variable = match.group(1)
            if variable in PARAMETERS:
                return _longest(variable)
            assert variable == "WebSocketApi", variable  # an API id: 10 characters
            return "a" * 10

        longest = re.sub(r"\$\{([^}]+)\}", value, text)
        assert len(longest) <= DESCRIPTION_LIMIT, (name, len(longest))


# ------------------------------------------------------------------------------ gradual deploys
ANY_TRAFFIC = {
    "UnhandledErrorsAlarm",
    "FrameFailuresAlarm",
    "RestApi5xxCountAlarm",
    "WebSocketErrorsAlarm",
}


@pytest.mark.parametrize("deployment_type", ["Canary10Percent5Minutes", "AllAtOnce"])
def test_codedeploy_moves_live_and_rolls_back_on_the_functions_alarms(deployment_type):
    template = transform(packaged(SOURCE), {"DeploymentType": deployment_type})
    resources = template["Resources"]
    for name in FUNCTIONS:
        group = resources[f"{name}DeploymentGroup"]["Properties"]
        config = group["DeploymentConfigName"]["Fn::Sub"]
        assert config == ["CodeDeployDefault.Lambda${ConfigName}", {"ConfigName": deployment_type}]
        alarms = {alarm["Name"]["Ref"] for alarm in group["AlarmConfiguration"]["Alarms"]}
        short = name.removesuffix("Function")
        assert f"{short}ErrorsAlarm" in alarms, name  # timeouts, crashes, failed inits
        if name != "WsAuthorizerFunction":  # it refuses tokens by failing: its own alarm only
            assert alarms & ANY_TRAFFIC, name  # what the function answers itself, per minute
        assert "DEPLOYMENT_STOP_ON_ALARM" in group["AutoRollbackConfiguration"]["Events"]
        for alarm in alarms:
            assert resources[alarm]["Type"] == "AWS::CloudWatch::Alarm"
    for alias in resources_of_type(template, "AWS::Lambda::Alias").values():
        update = alias["UpdatePolicy"]["CodeDeployLambdaAliasUpdate"]
        function = alias["Properties"]["FunctionName"]["Ref"]
        assert update["DeploymentGroupName"] == {"Ref": f"{function}DeploymentGroup"}
