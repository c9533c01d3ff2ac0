"""template.yaml: what must hold for the stack to deploy and behave as documented."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from chat.transport.client_frames import FRAME_TYPES
from chat.transport.routes import account, attachments, auth, bot, conversation, rooms, search
from local.template import ROOT, load_template, resources_of_type

TEMPLATE = load_template()
RESOURCES = TEMPLATE["Resources"]


def _rest_routes_in_template() -> set[tuple[str, str]]:
    routes = set()
    for resource in resources_of_type(TEMPLATE, "AWS::Serverless::Function").values():
        for event in resource["Properties"].get("Events", {}).values():
            if event["Type"] == "Api":
                routes.add((event["Properties"]["Method"].upper(), event["Properties"]["Path"]))
    return routes


def _rest_routes_in_code() -> set[tuple[str, str]]:
    routes = set()
    for router in (
        auth.router,
        account.router,
        rooms.router,
        conversation.router,
        bot.router,
        attachments.router,
        search.router,
    ):
        for rule, methods, *_ in router._routes:
            path = re.sub(r"<(\w+)>", r"{\1}", rule)
            routes.update((method.upper(), path) for method in methods)
    return routes


def test_every_rest_route_in_the_template_is_served_by_the_code_and_back():
    assert _rest_routes_in_template() == _rest_routes_in_code()


def test_sam_local_api_provider_reads_every_rest_route():
    # What `sam local start-api` uses: it must keep working with the WebSocket API present.
    from samcli.lib.providers.api_provider import ApiProvider
    from samcli.lib.providers.sam_stack_provider import SamLocalStackProvider

    stacks, _ = SamLocalStackProvider.get_stacks(str(ROOT / "template.yaml"))
    served = {
        (method, route.path)
        for route in ApiProvider(stacks).routes
        for method in route.methods
        if method != "OPTIONS"
    }
    assert served == _rest_routes_in_template()


def test_websocket_routes_cover_every_client_frame_type():
    routes = {
        r["Properties"]["RouteKey"]
        for r in resources_of_type(TEMPLATE, "AWS::ApiGatewayV2::Route").values()
    }
    assert routes == {"$connect", "$disconnect", "$default", *FRAME_TYPES}
    api = RESOURCES["WebSocketApi"]["Properties"]
    assert api["ProtocolType"] == "WEBSOCKET"
    assert api["RouteSelectionExpression"] == "$request.body.type"


def test_functions_run_python_313_on_arm64_with_both_layers():
    function_globals = TEMPLATE["Globals"]["Function"]
    assert function_globals["Runtime"] == "python3.13"
    assert function_globals["Architectures"] == ["arm64"]
    assert [layer["Ref"] for layer in function_globals["Layers"]] == [
        "SharedLayer",
        "DependenciesLayer",
    ]
    for name, function in resources_of_type(TEMPLATE, "AWS::Serverless::Function").items():
        assert function["Metadata"]["BuildMethod"] == "makefile", name
        assert (ROOT / function["Properties"]["CodeUri"] / "app.py").is_file(), name


def test_bot_queue_is_fifo_with_dead_letters_and_long_enough_visibility():
    queue = RESOURCES["BotCommandsQueue"]["Properties"]
    worker = RESOURCES["BotWorkerFunction"]["Properties"]
    assert queue["FifoQueue"] is True
    assert queue["ContentBasedDeduplication"] is False
    assert queue["VisibilityTimeout"] >= 6 * worker["Timeout"]
    assert queue["RedrivePolicy"]["maxReceiveCount"] == {"Ref": "BotCommandMaxReceiveCount"}
    receives = TEMPLATE["Parameters"]["BotCommandMaxReceiveCount"]
    assert receives["Default"] >= 5 and receives["MinValue"] >= 5  # AWS advises 5 or more
    assert RESOURCES["BotCommandsDeadLetterQueue"]["Properties"]["FifoQueue"] is True
    (depth,) = [
        m
        for m in RESOURCES["BotCommandsDeadLetterAlarm"]["Properties"]["Metrics"]
        if "MetricStat" in m
    ]
    assert depth["MetricStat"]["Metric"]["Dimensions"][0]["Value"] == {
        "Fn::GetAtt": ["BotCommandsDeadLetterQueue", "QueueName"]
    }
    source = worker["Events"]["Commands"]["Properties"]
    assert source["FunctionResponseTypes"] == ["ReportBatchItemFailures"]


@pytest.mark.parametrize(
    "name", ["UsersTable", "RoomsTable", "MembershipsTable", "MessagesTable", "ConnectionsTable"]
)
def test_tables_are_on_demand_encrypted_and_recoverable(name):
    table = RESOURCES[name]["Properties"]
    assert table["BillingMode"] == "PAY_PER_REQUEST"
    assert table["SSESpecification"]["SSEEnabled"] is True
    assert table["PointInTimeRecoverySpecification"]["PointInTimeRecoveryEnabled"] is True


def test_connections_expire_by_ttl():
    ttl = RESOURCES["ConnectionsTable"]["Properties"]["TimeToLiveSpecification"]
    assert ttl == {"AttributeName": "expires_at", "Enabled": True}


def test_jwt_key_is_generated_by_cloudformation_not_passed_in():
    secret = RESOURCES["JwtSecret"]["Properties"]
    assert "GenerateSecretString" in secret and "SecretString" not in secret
    assert not any("jwt" in name.lower() for name in TEMPLATE["Parameters"])


def test_rest_api_has_cors_and_throttling_parameters():
    api = RESOURCES["RestApi"]["Properties"]
    assert "Cors" in api
    settings = api["MethodSettings"][0]
    assert settings["ThrottlingRateLimit"] == {"Ref": "RestThrottlingRateLimit"}
    assert settings["ThrottlingBurstLimit"] == {"Ref": "RestThrottlingBurstLimit"}
    assert {"RestApiUrl", "WebSocketUrl"} <= set(TEMPLATE["Outputs"])


def test_no_code_scans_a_table():
    package = Path(__import__("chat").__file__).parent
    offenders = [
        str(path)
        for path in package.rglob("*.py")
        if re.search(r"\.scan\(|\"Scan\"", path.read_text())
    ]
    assert offenders == []
