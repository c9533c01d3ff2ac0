"""The local stack reads template.yaml through SAM CLI's providers with its own symbol table:
every Ref/GetAtt becomes the local resource's identity, parameters are validated, and what
SAM CLI does not model (WebSocket API, SQS sources, gateway responses) is read as well."""

from __future__ import annotations

import copy

import pytest

from local.model import build_model
from local.symbols import (
    LocalSymbols,
    NotCreatedYet,
    Physical,
    Resolver,
    TemplateError,
    parameter_values,
)
from local.template import ROOT, TEMPLATE_PATH, load_template

TEMPLATE = load_template()
REGION = "eu-west-1"


def _identity(logical_id: str, resource_type: str) -> Physical:
    """What local.provision records, made up: a function's ARN must look like Lambda's."""
    if resource_type.endswith("::Function"):
        arn = f"arn:aws:lambda:{REGION}:123456789012:function:stack-{logical_id}"
        return Physical(f"stack-{logical_id}", {"Arn": arn})
    arn = f"arn:aws:test:{REGION}:123456789012:{logical_id}"
    return Physical(f"ref-{logical_id}", {"Arn": arn, "QueueName": f"name-{logical_id}"})


def _resolver(template=TEMPLATE, overrides=None) -> Resolver:
    symbols = LocalSymbols(
        template, parameter_values(template, overrides or {}), region=REGION, stack="stack"
    )
    for logical_id, resource in template["Resources"].items():
        if "LayerVersion" not in resource["Type"]:
            symbols.physical[logical_id] = _identity(logical_id, resource["Type"])
    return Resolver(template, symbols)


@pytest.fixture(scope="module")
def model():
    return build_model(TEMPLATE_PATH, _resolver(overrides={"BcryptCost": "4"}))


def test_functions_get_globals_layers_and_resolved_environment(model):
    assert set(model.functions) == {
        "AuthFunction",
        "RoomsFunction",
        "WsConnectFunction",
        "WsMessageFunction",
        "BotWorkerFunction",
    }
    auth = model.functions["AuthFunction"]
    assert auth.name == "stack-AuthFunction"
    assert auth.handler == "app.lambda_handler"
    assert auth.runtime == "python3.13"
    assert (auth.timeout, auth.memory) == (15, 512)
    assert auth.code_dir == ROOT / "functions" / "auth"
    assert auth.layer_paths == [ROOT / "layers" / "shared"]  # deps: a requirements file only
    assert auth.environment["BCRYPT_COST"] == "4"  # the override, as a string
    assert auth.environment["USERS_TABLE"] == "ref-UsersTable"
    assert auth.environment["TOKEN_TTL_SECONDS"] == "86400"
    assert auth.environment["WEBSOCKET_MANAGEMENT_URL"] == (
        f"https://ref-WebSocketApi.execute-api.{REGION}.amazonaws.com/v1"
    )
    worker = model.functions["BotWorkerFunction"]
    assert worker.timeout == 120
    assert worker.environment["SHARED_GEMINI_KEY_SECRET_ARN"] == ""
    assert model.functions["RoomsFunction"].environment["BOT_QUEUE_URL"] == "ref-BotCommandsQueue"


def test_rest_routes_stage_cors_and_gateway_responses(model):
    api = model.rest_api
    expected = {
        (event["Properties"]["Method"].upper(), event["Properties"]["Path"], logical_id)
        for logical_id, resource in TEMPLATE["Resources"].items()
        for event in (resource.get("Properties") or {}).get("Events", {}).values()
        if event["Type"] == "Api"
    }
    assert {(r.method, r.path, r.function) for r in api.routes} == expected  # no OPTIONS added
    assert (api.api_id, api.stage) == ("ref-RestApi", "v1")
    assert api.cors["Access-Control-Allow-Origin"] == "*"
    assert api.cors["Access-Control-Max-Age"] == "600"
    assert api.gateway_headers["DEFAULT_4XX"] == {"Access-Control-Allow-Origin": "*"}


def test_websocket_routes_and_sqs_sources_read_beside_sam_cli(model):
    ws = model.websocket_api
    assert (ws.api_id, ws.stage, ws.route_selection_expression) == (
        "ref-WebSocketApi",
        "v1",
        "$request.body.type",
    )
    assert {key: route.function for key, route in ws.routes.items()} == {
        "$connect": "WsConnectFunction",
        "$disconnect": "WsConnectFunction",
        **{
            key: "WsMessageFunction"
            for key in ("$default", "join", "leave", "message", "typing", "ping")
        },
    }
    (source,) = model.sqs_sources
    assert (source.function, source.queue_logical_id, source.queue_url) == (
        "BotWorkerFunction",
        "BotCommandsQueue",
        "ref-BotCommandsQueue",
    )
    assert (source.fifo, source.batch_size, source.report_batch_item_failures) == (True, 1, True)


def test_outputs_are_resolved(model):
    assert model.outputs["RestApiUrl"] == (
        f"https://ref-RestApi.execute-api.{REGION}.amazonaws.com/v1"
    )
    assert model.outputs["BotCommandsQueueUrl"] == "ref-BotCommandsQueue"


def test_a_resource_not_created_yet_is_reported_so_provisioning_creates_it_first():
    resolver = _resolver()
    del resolver.symbols.physical["BotCommandsDeadLetterQueue"]
    redrive = TEMPLATE["Resources"]["BotCommandsQueue"]["Properties"]["RedrivePolicy"]
    with pytest.raises(NotCreatedYet) as missing:
        resolver.resolve(redrive)
    assert missing.value.logical_id == "BotCommandsDeadLetterQueue"
    resolver.symbols.physical["BotCommandsDeadLetterQueue"] = Physical("url", {"Arn": "dlq-arn"})
    max_receives = TEMPLATE["Parameters"]["BotCommandMaxReceiveCount"]["Default"]
    assert resolver.resolve(redrive) == {
        "deadLetterTargetArn": "dlq-arn",
        "maxReceiveCount": str(max_receives),
    }


def test_conditions_and_no_value():
    template = copy.deepcopy(TEMPLATE)
    template["Conditions"]["Both"] = {
        "Fn::And": [{"Condition": "HasAlarmEmail"}, {"Condition": "HasSharedGeminiKey"}]
    }
    resolver = _resolver(template, {"AlarmEmail": "ops@example.com"})
    endpoint = {"Fn::If": ["HasAlarmEmail", {"Ref": "AlarmEmail"}, {"Ref": "AWS::NoValue"}]}
    assert resolver.resolve({"Endpoint": endpoint}) == {"Endpoint": "ops@example.com"}
    assert resolver.condition("HasAlarmEmail") is True
    assert resolver.condition("Both") is False
    assert (
        resolver.resolve({"A": {"Fn::If": ["HasSharedGeminiKey", "x", {"Ref": "AWS::NoValue"}]}})
        == {}
    )


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"Nope": "1"}, "unknown parameter"),
        ({"LogLevel": "LOUD"}, "is not one of"),
        ({"BcryptCost": "3"}, "is below"),
        ({"StageName": "v 1"}, "does not match"),
    ],
)
def test_bad_parameter_overrides_are_refused(overrides, message):
    with pytest.raises(TemplateError, match=message):
        _resolver(overrides=overrides)
