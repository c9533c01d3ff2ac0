"""template.yaml as CloudFormation receives it (translated by SAM's own translator): what an
operator needs after the first deploy — one stage per API, route changes that go live,
retained data, log groups with retention, alarms that reach someone, a dashboard."""

from __future__ import annotations

import copy
import json
import os
import re
import subprocess
import sys
from typing import Any

import pytest

from local.template import ROOT, load_template, resources_of_type
from tests.support.cloudformation import resolver
from tests.support.sam import translate, translated

SOURCE = load_template()
PARAMETERS = SOURCE["Parameters"]
FUNCTION_ENV = SOURCE["Globals"]["Function"]["Environment"]["Variables"]


def of_type(resource_type: str, template: dict[str, Any] | None = None) -> dict[str, Any]:
    return resources_of_type(template or translated(), resource_type)


def ref(value: Any) -> str | None:
    return value.get("Ref") if isinstance(value, dict) else None


# ------------------------------------------------------------------------------ stages
def test_each_api_has_exactly_one_stage():
    resources = translated()["Resources"]
    for api in of_type("AWS::ApiGateway::RestApi"):
        stages = [
            s
            for s in of_type("AWS::ApiGateway::Stage").values()
            if ref(s["Properties"]["RestApiId"]) == api
        ]
        assert len(stages) == 1, api
        assert ref(stages[0]["Properties"]["StageName"]) == "StageName"
        # A Deployment with a StageName creates a second stage (SAM's "Stage")
        for deployment in of_type("AWS::ApiGateway::Deployment").values():
            assert "StageName" not in deployment["Properties"]
    for api in of_type("AWS::ApiGatewayV2::Api"):
        stages = [
            s
            for s in of_type("AWS::ApiGatewayV2::Stage").values()
            if ref(s["Properties"]["ApiId"]) == api
        ]
        assert len(stages) == 1, api
    assert resources  # translated at all


def _with_added_routes(template: dict[str, Any]) -> dict[str, Any]:
    changed = copy.deepcopy(template)
    changed["Resources"]["StopRoute"] = {
        "Type": "AWS::ApiGatewayV2::Route",
        "Properties": {
            "ApiId": {"Ref": "WebSocketApi"},
            "RouteKey": "stop",
            "Target": {"Fn::Sub": "integrations/${MessageIntegration}"},
        },
    }
    changed["Resources"]["RoomsFunction"]["Properties"]["Events"]["StopAnswer"] = {
        "Type": "Api",
        "Properties": {
            "RestApiId": {"Ref": "RestApi"},
            "Path": "/rooms/{room_id}/bot/stop",
            "Method": "POST",
        },
    }
    return changed


def test_route_changes_are_deployed_by_the_next_sam_deploy():
    before, after = translated(), translate(_with_added_routes(SOURCE))
    # WebSocket: the stage deploys itself on every route or integration change; no fixed
    # Deployment resource pins it to the routes of the first deploy.
    for template in (before, after):
        assert of_type("AWS::ApiGatewayV2::Deployment", template) == {}
        (stage,) = of_type("AWS::ApiGatewayV2::Stage", template).values()
        assert stage["Properties"]["AutoDeploy"] is True
        assert "DeploymentId" not in stage["Properties"]
    assert ref(after["Resources"]["StopRoute"]["Properties"]["ApiId"]) == ref(
        stage["Properties"]["ApiId"]
    )
    # REST: SAM names the Deployment after a hash of the API, so a new route is a new
    # Deployment and the stage points at it.
    (old,) = of_type("AWS::ApiGateway::Deployment", before)
    (new,) = of_type("AWS::ApiGateway::Deployment", after)
    assert old != new
    (rest_stage,) = of_type("AWS::ApiGateway::Stage", after).values()
    assert ref(rest_stage["Properties"]["DeploymentId"]) == new


# ------------------------------------------------------------------------------ data
STATEFUL = (
    "AWS::DynamoDB::Table",
    "AWS::S3::Bucket",
    "AWS::KMS::Key",
    "AWS::SecretsManager::Secret",
    "AWS::SQS::Queue",
    "AWS::Logs::LogGroup",
)
# Stateful resources not retained, and why (the template says so next to them).
NOT_RETAINED = {
    "AWS::SQS::Queue": "a deleted stack has no worker to answer the commands they hold",
    "AWS::Logs::LogGroup": "named after the stack: a kept group would block a stack of that name",
}


def test_every_stateful_resource_survives_delete_and_replace_but_not_a_failed_create():
    resources = translated()["Resources"]
    stateful = {
        name: resource
        for name, resource in resources.items()
        if resource["Type"] in STATEFUL and resource["Type"] not in NOT_RETAINED
    }
    assert {
        "UsersTable",
        "MessagesTable",
        "AttachmentsBucket",
        "WebClientBucket",
        "JwtSecret",
        "GeminiKeysKey",
        "AlarmTopicKey",
    } <= set(stateful)
    for name, resource in stateful.items():
        # Kept on delete and on replacement; deleted when the stack's first create fails
        # (the rollback then leaves nothing behind).
        assert resource.get("DeletionPolicy") == "RetainExceptOnCreate", name
        assert resource.get("UpdateReplacePolicy") == "Retain", name
    # The one plain Retain of ours: the account-wide API Gateway logging role, which the
    # account's setting may name once created (deleting it would break every API's access
    # logs). SAM keeps function and layer versions itself (code snapshots, for rollbacks).
    kept_always = {
        name
        for name, resource in resources.items()
        if resource.get("DeletionPolicy") == "Retain"
        and resource["Type"] not in ("AWS::Lambda::Version", "AWS::Lambda::LayerVersion")
    }
    assert kept_always == {"ApiGatewayLogsRole"}
    source = (ROOT / "template.yaml").read_text()
    for resource_type in NOT_RETAINED:
        for name in of_type(resource_type):
            assert "DeletionPolicy" not in resources[name], name
    assert "Queues are not retained: a deleted stack has no worker" in source
    assert "Log groups are not retained: they are named after the stack" in source
    for name, table in of_type("AWS::DynamoDB::Table").items():
        assert table["Properties"]["DeletionProtectionEnabled"] == {
            "Fn::If": ["ProtectTables", True, False]
        }, name
    assert PARAMETERS["TableDeletionProtection"]["Default"] == "true"
    assert SOURCE["Conditions"]["ProtectTables"] == {
        "Fn::Equals": [{"Ref": "TableDeletionProtection"}, "true"]
    }


# ------------------------------------------------------------------------------ logs
def _log_group(value: Any) -> dict[str, Any]:
    name = ref(value) or value["Fn::GetAtt"][0]
    group = translated()["Resources"][name]
    assert group["Type"] == "AWS::Logs::LogGroup", name
    return group["Properties"]


def test_every_function_logs_to_its_own_group_with_the_retention_parameter():
    functions = of_type("AWS::Lambda::Function")
    assert len(functions) == 10
    groups = set()
    for name, function in functions.items():
        group = function["Properties"]["LoggingConfig"]["LogGroup"]
        assert _log_group(group)["RetentionInDays"] == {"Ref": "LogRetentionInDays"}, name
        groups.add(ref(group))
    assert len(groups) == len(functions)
    assert PARAMETERS["LogRetentionInDays"]["Default"] == 30


LAMBDA_LOG_LEVELS = {"TRACE", "DEBUG", "INFO", "WARN", "ERROR", "FATAL"}


@pytest.mark.parametrize("level", PARAMETERS["LogLevel"]["AllowedValues"])
def test_functions_log_json_with_lambdas_own_lines_from_warn(level):
    resolve = resolver(translated(), {"LogLevel": level})
    for name, function in of_type("AWS::Lambda::Function").items():
        config = resolve.resolve(function["Properties"]["LoggingConfig"])
        assert config["LogFormat"] == "JSON" and config["SystemLogLevel"] == "WARN", name
        # Lambda drops application lines below its level: it follows LogLevel
        assert config["ApplicationLogLevel"] in LAMBDA_LOG_LEVELS, name
        assert config["ApplicationLogLevel"].startswith(level[:4]), name


def _access_log_fields(log_format: str) -> dict[str, str]:
    return json.loads(log_format)  # one JSON object per request


def test_both_apis_write_json_access_logs_to_groups_with_retention():
    (rest,) = of_type("AWS::ApiGateway::Stage").values()
    (ws,) = of_type("AWS::ApiGatewayV2::Stage").values()
    required = {
        "requestId": "$context.requestId",
        "ip": "$context.identity.sourceIp",
        "status": "$context.status",
    }
    for settings, route, latency in (
        (
            rest["Properties"]["AccessLogSetting"],
            "$context.resourcePath",
            "$context.responseLatency",
        ),
        (ws["Properties"]["AccessLogSettings"], "$context.routeKey", "$context.integrationLatency"),
    ):
        assert _log_group(settings["DestinationArn"])["RetentionInDays"] == {
            "Ref": "LogRetentionInDays"
        }
        fields = _access_log_fields(settings["Format"])
        assert required.items() <= fields.items()
        assert fields["route"] == route and fields["latencyMs"] == latency
    assert (
        _access_log_fields(ws["Properties"]["AccessLogSettings"]["Format"])["connectionId"]
        == "$context.connectionId"
    )
    # Access logging needs the account's CloudWatch role before the stages exist (unless
    # ManageApiGatewayAccountRole=false leaves it to the account: test_template_params)
    assert of_type("AWS::ApiGateway::Account")
    assert translated()["Resources"]["RestApi"]["DependsOn"] == "ApiGatewayAccountReady"
    assert translated()["Resources"]["WebSocketStage"]["DependsOn"] == "ApiGatewayAccountReady"


# ------------------------------------------------------------------------------ alarms
def _metrics(alarm: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    """(namespace, metric, dimensions) of every metric an alarm reads."""
    properties = alarm["Properties"]
    if "MetricName" in properties:
        stats = [properties]
    else:
        stats = [m["MetricStat"]["Metric"] for m in properties["Metrics"] if "MetricStat" in m]
    return [
        (
            s["Namespace"],
            s["MetricName"],
            {d["Name"]: d["Value"] for d in s.get("Dimensions", [])},
        )
        for s in stats
    ]


def test_every_alarm_notifies_the_encrypted_topic_and_tells_what_to_look_at():
    alarms = of_type("AWS::CloudWatch::Alarm")
    assert len(alarms) >= 20
    for name, alarm in alarms.items():
        properties = alarm["Properties"]
        assert properties["AlarmActions"] == [{"Ref": "AlarmTopic"}], name
        assert len(properties["AlarmDescription"]) > 100, name
        assert re.search(r"\b(look|check|filter|find|open)", properties["AlarmDescription"], re.I)
        assert properties["TreatMissingData"] == "notBreaching", name
    topic = translated()["Resources"]["AlarmTopic"]["Properties"]
    assert ref(topic["KmsMasterKeyId"]) == "AlarmTopicKey"
    key_policy = translated()["Resources"]["AlarmTopicKey"]["Properties"]["KeyPolicy"]
    assert any(
        s["Principal"].get("Service") == "cloudwatch.amazonaws.com" for s in key_policy["Statement"]
    )
    subscription = translated()["Resources"]["AlarmEmailSubscription"]
    assert subscription["Condition"] == "HasAlarmEmail"
    assert ref(subscription["Properties"]["Endpoint"]) == "AlarmEmail"


CUSTOM = "${MetricsNamespace}"  # the namespace of the functions' own metrics


def _alarmed() -> set[tuple[str, str, str]]:
    """(namespace, metric, what) for every alarm; `what` names the function or code."""
    found = set()
    for alarm in of_type("AWS::CloudWatch::Alarm").values():
        for namespace, metric, dimensions in _metrics(alarm):
            what = (
                dimensions.get("FunctionName")
                or dimensions.get("code")
                or dimensions.get("function")
            )
            if namespace == {"Ref": "MetricsNamespace"}:
                namespace = CUSTOM
            found.add((namespace, metric, ref(what) or str(what)))
    return found


def test_the_alarms_cover_what_the_operator_must_hear_about():
    alarmed = _alarmed()
    metrics = {(namespace, metric) for namespace, metric, _ in alarmed}
    assert {
        ("AWS/ApiGateway", "5XXError"),
        ("AWS/ApiGateway", "Latency"),
        ("AWS/ApiGateway", "IntegrationError"),
        ("AWS/SQS", "ApproximateAgeOfOldestMessage"),
        ("AWS/SQS", "ApproximateNumberOfMessagesVisible"),  # the dead-letter queue
        (CUSTOM, "PushFailures"),
    } <= metrics
    for function in of_type("AWS::Lambda::Function"):
        assert ("AWS/Lambda", "Errors", function) in alarmed
        assert ("AWS/Lambda", "Throttles", function) in alarmed
    for code in ("model_error", "timeout", "rate_limited"):
        assert (CUSTOM, "BotErrorsByCode", code) in alarmed
    # Failures the functions answer themselves (500s, internal error frames, failed answers)
    # never reach Lambda's Errors metric: their own metrics are alarmed, at any traffic.
    assert {(CUSTOM, "UnhandledErrors"), (CUSTOM, "FrameFailures")} <= metrics
    for function in ("Auth", "Rooms", "WsMessage", "BotWorker"):
        assert (CUSTOM, "UnhandledErrors", function) in alarmed
    count = translated()["Resources"]["RestApi5xxCountAlarm"]["Properties"]
    assert count["MetricName"] == "5XXError" and count["Statistic"] == "Sum"
    assert "Metrics" not in count  # a count: no share of requests, no minimum traffic
    # The worker's duration, before its timeout
    duration = translated()["Resources"]["BotWorkerDurationAlarm"]["Properties"]
    timeout_ms = translated()["Resources"]["BotWorkerFunction"]["Properties"]["Timeout"] * 1000
    assert 0.75 * timeout_ms <= duration["Threshold"] < timeout_ms
    # The dead-letter alarm fires on each increase, not once while the queue is non-empty
    dead = translated()["Resources"]["BotCommandsDeadLetterAlarm"]["Properties"]
    (expression,) = [m["Expression"] for m in dead["Metrics"] if "Expression" in m]
    assert expression.startswith("DIFF(")


def test_only_operator_caused_bot_errors_are_alarmed():
    bot_alarms = [
        _metrics(alarm)
        for alarm in of_type("AWS::CloudWatch::Alarm").values()
        if any(metric == "BotErrorsByCode" for _, metric, _ in _metrics(alarm))
    ]
    assert len(bot_alarms) == 3
    for metrics in bot_alarms:
        for _, _, dimensions in metrics:
            assert dimensions["cause"] == "operator", dimensions
    code = (ROOT / "layers/shared/chat/logic/bot/ending.py").read_text()
    assert 'add_dimension(name="cause", value=failure.cause)' in code


def test_custom_metric_alarms_match_what_the_functions_emit():
    code = "\n".join(p.read_text() for p in (ROOT / "layers/shared/chat").rglob("*.py"))
    function_names = {
        f["Properties"]["Environment"]["Variables"]["POWERTOOLS_METRICS_FUNCTION_NAME"]
        for f in resources_of_type(SOURCE, "AWS::Serverless::Function").values()
    }
    assert len(function_names) == 10  # one distinct `function` dimension each
    custom = [m for a in of_type("AWS::CloudWatch::Alarm").values() for m in _metrics(a)]
    custom = [m for m in custom if not str(m[0]).startswith("AWS/")]
    assert custom
    for namespace, metric, dimensions in custom:
        assert namespace == FUNCTION_ENV["POWERTOOLS_METRICS_NAMESPACE"]
        assert f'name="{metric}"' in code, metric
        assert dimensions["service"] == FUNCTION_ENV["POWERTOOLS_SERVICE_NAME"]
        assert dimensions["function"] in function_names


def test_metrics_carry_the_function_dimension_the_template_sets():
    script = (
        "from chat.observability import metrics\n"
        "metrics.add_metric(name='Probe', unit='Count', value=1)\n"
        "metrics.flush_metrics()\n"
    )
    run = subprocess.run(  # noqa: S603 - our own interpreter
        [sys.executable, "-c", script],
        env={
            **os.environ,
            "PYTHONPATH": str(ROOT / "layers/shared"),
            "POWERTOOLS_METRICS_FUNCTION_NAME": "Rooms",
        },
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    emf = json.loads(run.stdout.strip().splitlines()[-1])
    (directive,) = emf["_aws"]["CloudWatchMetrics"]
    assert sorted(directive["Dimensions"][0]) == ["function", "service"]
    assert emf["function"] == "Rooms" and emf["service"] == "chat"


# ------------------------------------------------------------------------------ capacity
def test_the_worker_is_bounded_and_its_reservation_optional():
    mapping = of_type("AWS::Lambda::EventSourceMapping")["BotWorkerFunctionCommands"]
    assert mapping["Properties"]["ScalingConfig"] == {
        "MaximumConcurrency": {"Ref": "BotWorkerMaxConcurrency"}
    }
    assert PARAMETERS["BotWorkerMaxConcurrency"]["MinValue"] == 2  # SQS event source minimum
    assert PARAMETERS["BotWorkerReservedConcurrency"]["Default"] == 0  # fits a 10-wide account
    worker = translated()["Resources"]["BotWorkerFunction"]["Properties"]
    assert worker["ReservedConcurrentExecutions"] == {
        "Fn::If": [
            "HasWorkerReservedConcurrency",
            {"Ref": "BotWorkerReservedConcurrency"},
            {"Ref": "AWS::NoValue"},
        ]
    }


def test_bcrypt_routes_have_their_own_throttle_and_auth_can_be_reserved():
    (stage,) = of_type("AWS::ApiGateway::Stage").values()
    settings = {
        (m["ResourcePath"], m["HttpMethod"]): m for m in stage["Properties"]["MethodSettings"]
    }
    for path in ("/~1auth~1register", "/~1auth~1login"):  # API Gateway's escaped paths
        throttle = settings[(path, "POST")]
        assert throttle["ThrottlingRateLimit"] == {"Ref": "AuthThrottlingRateLimit"}
        assert throttle["ThrottlingBurstLimit"] == {"Ref": "AuthThrottlingBurstLimit"}
    assert settings[("/*", "*")]["ThrottlingRateLimit"] == {"Ref": "RestThrottlingRateLimit"}
    auth = translated()["Resources"]["AuthFunction"]["Properties"]
    assert auth["ReservedConcurrentExecutions"] == {
        "Fn::If": [
            "HasAuthReservedConcurrency",
            {"Ref": "AuthReservedConcurrency"},
            {"Ref": "AWS::NoValue"},
        ]
    }
    assert PARAMETERS["AuthReservedConcurrency"]["Default"] == 0  # fits a 10-wide account
    variables = auth["Environment"]["Variables"]
    assert variables["REGISTRATIONS_PER_ADDRESS_PER_HOUR"] == {
        "Ref": "RegistrationsPerAddressPerHour"
    }


# ------------------------------------------------------------------------------ dashboard
def _widgets() -> list[dict[str, Any]]:
    dashboard = translated()["Resources"]["Dashboard"]["Properties"]
    body = re.sub(r"\$\{([^}]+)\}", r"<\1>", dashboard["DashboardBody"]["Fn::Sub"])
    return json.loads(body)["widgets"]


OPERATIONS = ROOT / "docs" / "operations.md"


def test_the_dashboard_has_the_widgets_the_operations_page_describes():
    titles = {w["properties"]["title"] for w in _widgets()}
    assert {
        "Alarms",
        "Messages and frames per minute",
        "Push failures and gone connections",
        "Bot time to first chunk (ms)",
        "Bot errors by code and cause",
        "Bot command queue",
        "Functions: Invocations",
        "Functions: Errors",
        "Functions: Throttles",
        "Functions: Duration p95 (ms)",
        "REST API: requests, 4XX, 5XX",
        "REST API: latency (ms)",
        "WebSocket API: connects, messages, errors",
        "DynamoDB throttled requests",
        "Account concurrency",
        "Unhandled errors and failed frames",
        "Search: queries, index reads, p95 (ms)",
        "Search indexer: iterator age (ms)",
        "Search indexer: changes, postings, failures",
        "Accounts: logouts, password changes, closings",
        "Accounts: erasure queue",
    } == titles
    operations = OPERATIONS.read_text()
    for title in titles:
        assert title in operations, title


def test_the_alarm_widget_shows_every_alarm_and_the_account_concurrency_is_drawn():
    (status,) = [w for w in _widgets() if w["type"] == "alarm"]
    assert sorted(status["properties"]["alarms"]) == sorted(
        f"<{name}.Arn>" for name in of_type("AWS::CloudWatch::Alarm")
    )
    (concurrency,) = [w for w in _widgets() if w["properties"]["title"] == "Account concurrency"]
    rows = concurrency["properties"]["metrics"]
    account = {row[1] for row in rows if row[0] == "AWS/Lambda" and isinstance(row[2], dict)}
    assert {"ConcurrentExecutions", "UnreservedConcurrentExecutions"} <= account
    per_function = {row[3] for row in rows if row[2:3] == ["FunctionName"]}
    assert per_function == {f"<{name}>" for name in of_type("AWS::Lambda::Function")}


_NAMED_WIDGETS = re.compile(r'Dashboard: ((?:"[^"]+"(?:, )?)+)\.')


def test_every_runbook_names_widgets_that_exist():
    titles = {w["properties"]["title"] for w in _widgets()}
    for name, alarm in of_type("AWS::CloudWatch::Alarm").items():
        description = " ".join(alarm["Properties"]["AlarmDescription"].split())
        match = _NAMED_WIDGETS.search(description)
        assert match, f"{name} names no dashboard widget"
        named = set(re.findall(r'"([^"]+)"', match.group(1)))
        assert named and named <= titles, (name, named - titles)
    # the operations page's alarm table: every widget it names (in italics) exists
    table = [line for line in OPERATIONS.read_text().splitlines() if line.startswith("| `")]
    named = {title for line in table for title in re.findall(r"\*([^*]+)\*", line)}
    assert named and named <= titles, named - titles
    alarms = set(of_type("AWS::CloudWatch::Alarm"))
    documented = {a for line in table for a in re.findall(r"`(\w+Alarm)`", line)}
    per_function = {
        a
        for a in alarms
        if re.fullmatch(
            r"(Auth|Rooms|WsConnect|WsMessage|BotWorker)(Errors|Throttles)Alarm|WsAuthorizerThrottlesAlarm",
            a,
        )
    }
    assert alarms - per_function <= documented, (alarms - per_function) - documented


@pytest.mark.parametrize(
    "name", ["POWERTOOLS_TRACER_CAPTURE_RESPONSE", "POWERTOOLS_TRACER_CAPTURE_ERROR"]
)
def test_traces_never_record_responses_or_errors(name):
    assert FUNCTION_ENV[name] == "false"


# ------------------------------------------------------------------------------ the `live` alias
# Every invoker calls a function's `live` alias (a published version), never the unqualified
# function ($LATEST): SnapStart applies to published versions only, so an invoker of $LATEST
# would never get it, and a Lambda permission on the function does not cover its alias.
_INVOCATION_URI = re.compile(r"/functions/\$\{([^}]+)\}/invocations$")


def _live_aliases(template: dict[str, Any]) -> dict[str, str]:
    """alias logical id -> function logical id, for every alias named `live`."""
    return {
        alias: ref(properties["Properties"]["FunctionName"])
        for alias, properties in of_type("AWS::Lambda::Alias", template).items()
        if properties["Properties"]["Name"] == "live"
    }


def _invocations(template: dict[str, Any]) -> list[tuple[str, Any]]:
    """(who, what it invokes) for every API integration and authorizer, Lambda permission
    and event source mapping of the translated template."""
    found: list[tuple[str, Any]] = []
    for name, resource in of_type("AWS::ApiGatewayV2::Integration", template).items():
        found.append((name, resource["Properties"]["IntegrationUri"]))
    for name, resource in of_type("AWS::ApiGatewayV2::Authorizer", template).items():
        found.append((name, resource["Properties"]["AuthorizerUri"]))
    for name, resource in of_type("AWS::ApiGateway::Method", template).items():
        found.append((name, resource["Properties"]["Integration"]["Uri"]))
    for name, resource in of_type("AWS::ApiGateway::Authorizer", template).items():
        found.append((name, resource["Properties"]["AuthorizerUri"]))
    for name, resource in of_type("AWS::ApiGateway::RestApi", template).items():
        body = resource["Properties"]["Body"]
        for path, methods in body["paths"].items():
            for method, operation in methods.items():
                integration = operation.get("x-amazon-apigateway-integration") or {}
                if integration.get("type") == "aws_proxy":
                    found.append((f"{name} {method.upper()} {path}", integration["uri"]))
        schemes = (body.get("components") or {}).get("securitySchemes") or {}
        for scheme, definition in {**schemes, **(body.get("securityDefinitions") or {})}.items():
            authorizer = definition.get("x-amazon-apigateway-authorizer") or {}
            if "authorizerUri" in authorizer:
                found.append((f"{name} authorizer {scheme}", authorizer["authorizerUri"]))
    for name, resource in of_type("AWS::Lambda::Permission", template).items():
        found.append((name, resource["Properties"]["FunctionName"]))
    for name, resource in of_type("AWS::Lambda::EventSourceMapping", template).items():
        found.append((name, resource["Properties"]["FunctionName"]))
    return found


def _target(value: Any) -> str | None:
    """The logical id an invocation URI (`Fn::Sub` of …/functions/${X}/invocations) or a
    FunctionName (`Ref: X`) names; None for anything else (an ARN attribute, a literal)."""
    if isinstance(value, dict) and "Fn::Sub" in value:
        sub = value["Fn::Sub"]
        text, variables = (sub, {}) if isinstance(sub, str) else sub
        match = _INVOCATION_URI.search(text)
        if match is None:
            return None
        return ref(variables[match.group(1)]) if match.group(1) in variables else match.group(1)
    return ref(value)


def _not_invoking_live(template: dict[str, Any]) -> dict[str, Any]:
    aliases = _live_aliases(template)
    return {who: what for who, what in _invocations(template) if _target(what) not in aliases}


def test_every_invoker_calls_the_live_alias_of_every_function():
    template = translated()
    aliases = _live_aliases(template)
    functions = set(of_type("AWS::Lambda::Function", template))
    assert sorted(aliases.values()) == sorted(functions)  # one `live` alias per function
    invocations = _invocations(template)
    assert not _not_invoking_live(template)
    kinds = {template["Resources"].get(who.split()[0], {}).get("Type") for who, _ in invocations}
    assert {
        "AWS::ApiGatewayV2::Integration",
        "AWS::ApiGatewayV2::Authorizer",
        "AWS::ApiGateway::RestApi",
        "AWS::Lambda::Permission",
        "AWS::Lambda::EventSourceMapping",
    } <= kinds
    # every function is invoked (through its alias), and every one may be: SnapStart reaches all
    invoked = {aliases[_target(what)] for _, what in invocations}
    assert invoked == functions
    permitted = {
        aliases[_target(resource["Properties"]["FunctionName"])]
        for resource in of_type("AWS::Lambda::Permission", template).values()
        if resource["Properties"]["Principal"] == "apigateway.amazonaws.com"
    }
    mapped = {
        aliases[_target(resource["Properties"]["FunctionName"])]
        for resource in of_type("AWS::Lambda::EventSourceMapping", template).values()
    }
    assert permitted | mapped == functions
    for name, function in of_type("AWS::Lambda::Function", template).items():
        assert function["Properties"]["SnapStart"] == {
            "ApplyOn": {"Fn::If": ["UseSnapStart", "PublishedVersions", "None"]}
        }, name
    assert PARAMETERS["SnapStart"]["Default"] == "false"


def test_an_integration_or_permission_back_on_latest_is_caught():
    source = copy.deepcopy(SOURCE)
    resources = source["Resources"]
    uri = resources["MessageIntegration"]["Properties"]["IntegrationUri"]
    uri["Fn::Sub"][1]["Function"] = {"Fn::GetAtt": ["WsMessageFunction", "Arn"]}
    resources["WsAuthorizerPermission"]["Properties"]["FunctionName"] = {
        "Ref": "WsAuthorizerFunction"
    }
    assert set(_not_invoking_live(translate(source))) == {
        "MessageIntegration",
        "WsAuthorizerPermission",
    }
