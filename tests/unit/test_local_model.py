"""The local stack reads template.yaml through SAM CLI's providers with its own symbol table:
every Ref/GetAtt becomes the local resource's identity, parameters are validated, and what
SAM CLI does not model (WebSocket API, SQS sources, gateway responses) is read as well."""

from __future__ import annotations

import copy
import json

import pytest

from local.events import select_route
from local.model import StackModel, build_model
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
    attributes = {"Arn": arn, "QueueName": f"name-{logical_id}"}
    if resource_type == "AWS::DynamoDB::Table":
        attributes["StreamArn"] = f"{arn}/stream/2026-01-01T00:00:00.000"
    return Physical(f"ref-{logical_id}", attributes)


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
        "WsAuthorizerFunction",
        "WsConnectFunction",
        "WsMessageFunction",
        "BotWorkerFunction",
        "SearchFunction",
        "SearchIndexerFunction",
        "AccountFunction",
        "AccountEraserFunction",
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
    assert auth.environment["POWERTOOLS_METRICS_NAMESPACE"] == "CollabChat"  # the default
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
    for family in ("DEFAULT_4XX", "DEFAULT_5XX"):
        assert api.gateway_headers[family] == {
            "Access-Control-Allow-Origin": "*",
            "X-Content-Type-Options": "nosniff",
            "Cache-Control": "no-store",
        }


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
            for key in ("$default", "join", "leave", "message", "typing", "ping", "bot_stop")
        },
    }
    # $connect is guarded by the template's Lambda REQUEST authorizer, the others are not
    authorizer = ws.routes["$connect"].authorizer
    assert authorizer is not None
    assert authorizer.function == "WsAuthorizerFunction"
    assert authorizer.identity_sources == ["route.request.querystring.token"]
    assert authorizer.authorizer_id == "ref-WebSocketAuthorizer"
    assert [key for key, route in ws.routes.items() if route.authorizer] == ["$connect"]
    sources = {source.function: source for source in model.sqs_sources}
    assert set(sources) == {"BotWorkerFunction", "AccountEraserFunction"}
    source = sources["BotWorkerFunction"]
    assert (source.function, source.queue_logical_id, source.queue_url) == (
        "BotWorkerFunction",
        "BotCommandsQueue",
        "ref-BotCommandsQueue",
    )
    assert (source.fifo, source.batch_size, source.report_batch_item_failures) == (True, 1, True)
    eraser = sources["AccountEraserFunction"]
    assert (eraser.queue_logical_id, eraser.fifo, eraser.batch_size) == (
        "AccountErasureQueue",
        False,
        1,
    )


def test_stream_sources_are_read_from_the_functions_dynamodb_events(model):
    (source,) = model.stream_sources
    assert (source.function, source.table_logical_id) == ("SearchIndexerFunction", "MessagesTable")
    assert (
        source.stream_arn
        == f"arn:aws:test:{REGION}:123456789012:MessagesTable/stream/2026-01-01T00:00:00.000"
    )
    assert source.function_arn == model.functions["SearchIndexerFunction"].arn
    assert (source.starting_position, source.batch_size, source.batching_window) == (
        "TRIM_HORIZON",
        100,
        1.0,
    )
    assert source.report_batch_item_failures and source.bisect_on_error
    assert source.maximum_retry_attempts == 5
    assert source.on_failure_queue_url == "ref-SearchIndexerFailuresQueue"


def test_sam_alias_references_name_the_local_function_qualified_by_its_alias():
    """`!Ref Function.Alias` and `${Function.Alias}` (which SAM's translator makes the
    AutoPublishAlias alias's Ref, its ARN) resolve to the local function's ARN + `:live`."""
    resolver = _resolver()
    arn = f"arn:aws:lambda:{REGION}:123456789012:function:stack-WsMessageFunction"
    assert resolver.resolve({"Ref": "WsMessageFunction.Alias"}) == f"{arn}:live"
    assert resolver.resolve({"Fn::Sub": "functions/${WsMessageFunction.Alias}/x"}) == (
        f"functions/{arn}:live/x"
    )
    with pytest.raises(TemplateError, match="not emulated locally"):
        resolver.resolve({"Ref": "WsMessageFunction.Version"})
    # the function's own AutoPublishAlias wins over the Globals', a parameter's Ref included
    template = copy.deepcopy(TEMPLATE)
    template["Resources"]["WsMessageFunction"]["Properties"]["AutoPublishAlias"] = {
        "Ref": "StageName"
    }
    assert _resolver(template).resolve({"Ref": "WsMessageFunction.Alias"}) == f"{arn}:v1"
    del template["Globals"]["Function"]["AutoPublishAlias"]
    with pytest.raises(TemplateError, match="AuthFunction has no AutoPublishAlias"):
        _resolver(template).resolve({"Ref": "AuthFunction.Alias"})
    # not created yet: provisioning is told which, as for any other reference
    resolver = _resolver()
    del resolver.symbols.physical["WsMessageFunction"]
    with pytest.raises(NotCreatedYet):
        resolver.resolve({"Ref": "WsMessageFunction.Alias"})


def test_sub_variables_are_substituted_and_the_rest_resolved():
    # SAM CLI alone looks a variable's resolved value up again as a logical id
    sub = [
        "${AWS::Region}/${Literal}/${Stage}/${Function}/${StageName}",
        {
            "Literal": "plain",
            "Stage": {"Ref": "StageName"},
            "Function": {"Ref": "WsConnectFunction.Alias"},
        },
    ]
    arn = f"arn:aws:lambda:{REGION}:123456789012:function:stack-WsConnectFunction"
    assert _resolver().resolve({"Fn::Sub": sub}) == f"{REGION}/plain/v1/{arn}:live/v1"


def _model_of(template: dict, directory) -> StackModel:
    """The model of a changed copy of the template (code paths made absolute)."""
    for resource in template["Resources"].values():
        properties = resource.get("Properties") or {}
        for key in ("CodeUri", "ContentUri"):
            if isinstance(properties.get(key), str):
                properties[key] = str(ROOT / properties[key])
    path = directory / "template.yaml"
    path.write_text(json.dumps(template))  # JSON is YAML
    return build_model(path, _resolver(template))


def test_websocket_targets_are_served_by_alias_or_unqualified_but_not_another_alias(tmp_path):
    template = copy.deepcopy(TEMPLATE)
    resources = template["Resources"]
    _, variables = resources["MessageIntegration"]["Properties"]["IntegrationUri"]["Fn::Sub"]
    assert variables == {"Function": {"Ref": "WsMessageFunction.Alias"}}  # as deployed: `live`
    variables["Function"] = {"Fn::Sub": "${WsMessageFunction.Arn}:old"}
    authorizer = resources["WebSocketAuthorizer"]["Properties"]["AuthorizerUri"]["Fn::Sub"]
    authorizer[1]["Function"] = {"Fn::GetAtt": ["WsAuthorizerFunction", "Arn"]}
    model = _model_of(template, tmp_path)
    ws = model.websocket_api
    # an alias the function does not publish is not invoked: its routes are not served
    assert set(ws.routes) == {"$connect", "$disconnect"}
    assert any(
        w.startswith("MessageIntegration: target is not a local function") for w in model.warnings
    )
    # the unqualified ARN ($LATEST) still names the local function
    assert ws.routes["$connect"].authorizer.function == "WsAuthorizerFunction"


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
        ({"MetricsNamespace": "AWS/Lambda"}, "does not match"),
        ({"ManageApiGatewayAccountRole": "no"}, "is not one of"),
    ],
)
def test_bad_parameter_overrides_are_refused(overrides, message):
    with pytest.raises(TemplateError, match=message):
        _resolver(overrides=overrides)


def test_operator_parameters_reach_the_local_functions():
    model = build_model(
        TEMPLATE_PATH,
        _resolver(
            overrides={"MetricsNamespace": "chat-staging", "ManageApiGatewayAccountRole": "false"}
        ),
    )
    for name, function in model.functions.items():
        assert function.environment["POWERTOOLS_METRICS_NAMESPACE"] == "chat-staging", name


ROUTE_KEYS = frozenset({"$connect", "$disconnect", "$default", "join", "message", "true", "1"})


@pytest.mark.parametrize(
    ("body", "route"),
    [
        ('{"type": "join"}', "join"),
        ('{"type": true}', "true"),
        ('{"type": 1}', "1"),
        ('{"type": "shout"}', "$default"),
        ('{"type": "$connect"}', "$default"),  # never a frame's route
        ('{"type": "$disconnect"}', "$default"),
        ('{"type": "$default"}', "$default"),
        ("not json", "$default"),
        ('{"type": ' + "[" * 5000 + "]" * 5000 + "}", "$default"),  # too deep for json
        ("[" * 5000, "$default"),
        ('{"type": ' + "9" * 5000 + "}", "$default"),  # past int()'s digit limit
        (None, "$default"),
    ],
    ids=lambda value: value[:30] if isinstance(value, str) else str(value),
)
def test_frames_are_routed_as_api_gateway_routes_them(body, route):
    assert select_route("$request.body.type", ROUTE_KEYS, body) == route
