"""The local stack is driven by the template alone: a copy of template.yaml with a route, a
table, a FIFO queue with a dead-letter queue and WebSocket routes added is served with no
change to local/. A tiny handler in the copy reports what it was given, so these tests also
pin the Lambda side: event shapes, environment, timeout, management API, SQS semantics."""

from __future__ import annotations

import copy
import json
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from websockets.exceptions import InvalidStatus

from local.template import load_template
from tests.e2e.conftest import PARENT_ONLY_VARIABLE, ROOT, LocalStackProcess, Rest, Socket

ECHO_HANDLER = textwrap.dedent(
    """
    import json
    import os
    import time

    import boto3

    TABLE = boto3.resource("dynamodb").Table(os.environ["ECHO_TABLE"])
    SQS = boto3.client("sqs")


    def lambda_handler(event, context):
        if "Records" in event:
            return jobs(event)
        if event.get("type") == "REQUEST":  # the $connect route's authorizer
            if (event.get("queryStringParameters") or {}).get("token") != "let-me-in":
                raise Exception("Unauthorized")
            statement = {"Action": "execute-api:Invoke", "Effect": "Allow", "Resource": event["methodArn"]}
            return {
                "principalId": "guest",
                "policyDocument": {"Version": "2012-10-17", "Statement": [statement]},
                "context": {"who": "guest", "level": 3},
            }
        request = event["requestContext"]
        kind = request.get("eventType")
        if kind == "CONNECT":
            allowed = (event.get("queryStringParameters") or {}).get("token") == "let-me-in"
            return {"statusCode": 200 if allowed else 401, "body": "go away"}
        if kind == "DISCONNECT":
            TABLE.put_item(Item={"pk": "disconnected#" + request["connectionId"], "code": request["disconnectStatusCode"]})
            return {"statusCode": 200}
        if kind == "MESSAGE":
            return frame(event, request)
        return rest(event, context)


    def frame(event, request):
        api = boto3.client("apigatewaymanagementapi", endpoint_url=os.environ["WEBSOCKET_MANAGEMENT_URL"])
        me = request["connectionId"]
        if request["routeKey"] == "kick":
            api.delete_connection(ConnectionId=me)
            return {"statusCode": 200}
        info = api.get_connection(ConnectionId=me)
        try:
            api.post_to_connection(ConnectionId="AAAAAAAAAAAAAAA=", Data=b"nobody")
            gone = None
        except api.exceptions.GoneException:
            gone = "GoneException"
        reply = {
            "route": request["routeKey"],
            "body": event["body"],
            "source_ip": info["Identity"]["SourceIp"],
            "gone": gone,
            "stage": request["stage"],
            "authorizer": request.get("authorizer"),
        }
        api.post_to_connection(ConnectionId=me, Data=json.dumps(reply).encode())
        return {"statusCode": 200}


    def rest(event, context):
        resource, method = event["resource"], event["httpMethod"]
        if resource == "/sleep/{seconds}":
            time.sleep(float(event["pathParameters"]["seconds"]))
            return answer(200, {"slept": True})
        if resource == "/jobs" and method == "POST":
            for job in json.loads(event["body"]):
                SQS.send_message(
                    QueueUrl=os.environ["JOBS_QUEUE_URL"],
                    MessageBody=job["body"],
                    MessageGroupId=job["group"],
                    MessageDeduplicationId=job["body"],
                )
            return answer(202, {})
        if resource == "/items":
            return answer(200, TABLE.scan(ConsistentRead=True)["Items"])
        if resource == "/dead":
            received = SQS.receive_message(
                QueueUrl=os.environ["JOBS_DLQ_URL"], MaxNumberOfMessages=10, VisibilityTimeout=0
            )
            return answer(200, [m["Body"] for m in received.get("Messages", [])])
        TABLE.put_item(Item={"pk": "echo", "word": event["pathParameters"]["word"]})
        stored = TABLE.get_item(Key={"pk": "echo"})["Item"]["word"]
        body = {
            "event": event,
            "environment": dict(os.environ),
            "context": {
                "function_name": context.function_name,
                "memory_limit_in_mb": context.memory_limit_in_mb,
                "invoked_function_arn": context.invoked_function_arn,
                "aws_request_id": context.aws_request_id,
                "remaining_ms": context.get_remaining_time_in_millis(),
            },
            "stored": stored,
        }
        return {
            "statusCode": 200,
            "headers": {"Content-Type": "application/json", "X-Echo": "yes"},
            "multiValueHeaders": {"Set-Cookie": ["a=1", "b=2"]},
            "body": json.dumps(body),
        }


    def jobs(event):
        groups = sorted({r["attributes"]["MessageGroupId"] for r in event["Records"]})
        failures = []
        for record in event["Records"]:
            attributes = record["attributes"]
            TABLE.put_item(
                Item={
                    "pk": f"job#{record['body']}#{attributes['ApproximateReceiveCount']}",
                    "body": record["body"],
                    "receive_count": attributes["ApproximateReceiveCount"],
                    "group": attributes["MessageGroupId"],
                    "deduplication_id": attributes["MessageDeduplicationId"],
                    "has_sequence_number": "SequenceNumber" in attributes,
                    "event_source": record["eventSource"],
                    "event_source_arn": record["eventSourceARN"],
                    "batch_groups": groups,
                }
            )
            if record["body"].startswith("fail"):
                failures.append({"itemIdentifier": record["messageId"]})
                # Retry now rather than after the visibility timeout: keeps the test short.
                SQS.change_message_visibility(
                    QueueUrl=os.environ["JOBS_QUEUE_URL"], ReceiptHandle=record["receiptHandle"], VisibilityTimeout=0
                )
        return {"batchItemFailures": failures}


    def answer(status, body):
        return {"statusCode": status, "body": json.dumps(body, default=str)}
    """
)


def _api(path: str, method: str) -> dict[str, Any]:
    return {
        "Type": "Api",
        "Properties": {"RestApiId": {"Ref": "RestApi"}, "Path": path, "Method": method},
    }


def template_copy(directory: Path) -> Path:
    """template.yaml plus an echo function, its routes, a table and a FIFO queue with a DLQ."""
    template = json.loads(json.dumps(copy.deepcopy(load_template())))
    resources = template["Resources"]
    for resource in resources.values():  # the copy lives elsewhere: code paths made absolute
        properties = resource.get("Properties") or {}
        for key in ("CodeUri", "ContentUri"):
            if isinstance(properties.get(key), str):
                properties[key] = str(ROOT / properties[key])
    handler_dir = directory / "echo"
    handler_dir.mkdir()
    (handler_dir / "app.py").write_text(ECHO_HANDLER)
    resources["EchoTable"] = {
        "Type": "AWS::DynamoDB::Table",
        "Properties": {
            "BillingMode": "PAY_PER_REQUEST",
            "AttributeDefinitions": [{"AttributeName": "pk", "AttributeType": "S"}],
            "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}],
        },
    }
    resources["JobsDeadLetterQueue"] = {
        "Type": "AWS::SQS::Queue",
        "Properties": {"FifoQueue": True},
    }
    resources["JobsQueue"] = {
        "Type": "AWS::SQS::Queue",
        "Properties": {
            "FifoQueue": True,
            "VisibilityTimeout": 30,
            "RedrivePolicy": {
                "deadLetterTargetArn": {"Fn::GetAtt": ["JobsDeadLetterQueue", "Arn"]},
                "maxReceiveCount": 2,
            },
        },
    }
    resources["EchoFunction"] = {
        "Type": "AWS::Serverless::Function",
        "Properties": {
            "CodeUri": str(handler_dir),
            "Handler": "app.lambda_handler",
            "Timeout": 2,
            "Environment": {
                "Variables": {
                    "ECHO_TABLE": {"Ref": "EchoTable"},
                    "JOBS_QUEUE_URL": {"Ref": "JobsQueue"},
                    "JOBS_DLQ_URL": {"Ref": "JobsDeadLetterQueue"},
                    "JOBS_QUEUE_ARN": {"Fn::GetAtt": ["JobsQueue", "Arn"]},
                }
            },
            "Events": {
                "Echo": _api("/echo/{word}", "GET"),
                "Sleep": _api("/sleep/{seconds}", "GET"),
                "PostJobs": _api("/jobs", "POST"),
                "Items": _api("/items", "GET"),
                "Dead": _api("/dead", "GET"),
                "Jobs": {
                    "Type": "SQS",
                    "Properties": {
                        "Queue": {"Fn::GetAtt": ["JobsQueue", "Arn"]},
                        "BatchSize": 10,
                        "FunctionResponseTypes": ["ReportBatchItemFailures"],
                    },
                },
            },
        },
    }
    echo_uri = {
        "Fn::Sub": "arn:${AWS::Partition}:apigateway:${AWS::Region}:lambda:path/2015-03-31/functions/${EchoFunction.Arn}/invocations"
    }
    resources["EchoIntegration"] = {
        "Type": "AWS::ApiGatewayV2::Integration",
        "Properties": {
            "ApiId": {"Ref": "WebSocketApi"},
            "IntegrationType": "AWS_PROXY",
            "IntegrationUri": echo_uri,
        },
    }
    for route_id, key in (("EchoRoute", "echo"), ("KickRoute", "kick")):
        resources[route_id] = {
            "Type": "AWS::ApiGatewayV2::Route",
            "Properties": {
                "ApiId": {"Ref": "WebSocketApi"},
                "RouteKey": key,
                "Target": {"Fn::Sub": "integrations/${EchoIntegration}"},
            },
        }
    # $connect / $disconnect go to the echo function too: its own token rule, no users needed.
    resources["ConnectIntegration"]["Properties"]["IntegrationUri"] = echo_uri
    resources["WebSocketAuthorizer"]["Properties"]["AuthorizerUri"] = echo_uri
    path = directory / "template.yaml"
    path.write_text(json.dumps(template, indent=1))  # JSON is YAML: a valid template file
    return path


@pytest.fixture(scope="module")
def copy_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStackProcess]:
    directory = tmp_path_factory.mktemp("template_copy")
    running = LocalStackProcess(
        directory, template=template_copy(directory), extra_args=["--no-prewarm"]
    ).wait_ready()
    yield running
    running.stop()


@pytest.fixture(scope="module")
def rest(copy_stack: LocalStackProcess) -> Rest:
    return Rest(copy_stack.urls["rest"])


def test_a_route_added_to_a_copy_of_the_template_is_served(
    copy_stack: LocalStackProcess, rest: Rest
) -> None:
    response = rest.get("/echo/hello?x=1&x=2&y=z")

    assert response.status_code == 200, response.text
    assert response.headers["X-Echo"] == "yes"
    assert response.headers.get_list("Set-Cookie") == ["a=1", "b=2"]
    echoed = response.json()
    event = echoed["event"]
    assert event["resource"] == "/echo/{word}"
    assert event["path"] == "/echo/hello"
    assert event["httpMethod"] == "GET"
    assert event["pathParameters"] == {"word": "hello"}
    assert event["queryStringParameters"] == {"x": "2", "y": "z"}
    assert event["multiValueQueryStringParameters"] == {"x": ["1", "2"], "y": ["z"]}
    assert event["requestContext"]["stage"] == "v1"
    assert event["requestContext"]["resourcePath"] == "/echo/{word}"
    assert event["requestContext"]["identity"]["sourceIp"] == "127.0.0.1"
    assert event["body"] is None and event["isBase64Encoded"] is False
    assert echoed["stored"] == "hello"  # the table added to the template exists in moto


def test_a_function_gets_exactly_its_template_environment(
    copy_stack: LocalStackProcess, rest: Rest
) -> None:
    echoed = rest.get("/echo/env").json()
    environment, context = echoed["environment"], echoed["context"]

    assert environment["ECHO_TABLE"] == "e2e-EchoTable"
    assert environment["JOBS_QUEUE_URL"].startswith(copy_stack.urls["aws"])
    assert environment["JOBS_QUEUE_ARN"].endswith(":e2e-JobsQueue.fifo")
    assert environment["POWERTOOLS_SERVICE_NAME"] == "chat"  # Globals
    assert environment["USERS_TABLE"] == "e2e-UsersTable"
    assert environment["WEBSOCKET_MANAGEMENT_URL"] == copy_stack.urls["management"]
    assert environment["AWS_ENDPOINT_URL"] == copy_stack.urls["aws"]
    assert environment["AWS_LAMBDA_FUNCTION_NAME"] == "e2e-EchoFunction"
    assert "BOT_QUEUE_URL" not in environment  # another function's variable
    assert PARENT_ONLY_VARIABLE not in environment  # nothing leaks from the stack's own environment
    assert context["function_name"] == "e2e-EchoFunction"
    assert context["memory_limit_in_mb"] == "512"
    assert context["invoked_function_arn"].endswith(":function:e2e-EchoFunction")
    assert 0 < context["remaining_ms"] <= 2000


def test_a_function_over_its_timeout_is_cut_off_and_the_next_call_works(rest: Rest) -> None:
    started = time.monotonic()
    timed_out = rest.get("/sleep/10")
    elapsed = time.monotonic() - started

    assert timed_out.status_code == 502
    assert timed_out.json() == {"message": "Endpoint request timed out"}
    assert elapsed < 6
    assert rest.get("/sleep/0").status_code == 200


def test_websocket_routes_added_to_the_copy_and_the_management_api(
    copy_stack: LocalStackProcess, rest: Rest
) -> None:
    with pytest.raises(InvalidStatus) as refused:
        Socket(copy_stack.urls["ws"] + "?token=wrong")
    assert refused.value.response.status_code == 401

    socket = Socket(copy_stack.urls["ws"] + "?token=let-me-in")
    try:
        socket.send(type="echo", text="héllo")
        reply = socket.wait_for(
            lambda frame: isinstance(frame, dict) and frame.get("route") == "echo"
        )
        assert json.loads(reply["body"]) == {"type": "echo", "text": "héllo"}
        assert reply["gone"] == "GoneException"
        assert reply["source_ip"] == "127.0.0.1"
        assert reply["stage"] == "v1"
        # the copy's $connect authorizer let it in; its context reaches every route
        assert reply["authorizer"] == {"who": "guest", "level": 3, "principalId": "guest"}

        socket.send(type="kick")
        assert socket.closed.wait(10), "DELETE @connections did not close the socket"
    finally:
        socket.close()
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        items = rest.get("/items").json()
        if any(item["pk"].startswith("disconnected#") for item in items):
            break
        time.sleep(0.2)
    else:
        pytest.fail("$disconnect was not invoked")


def test_a_fifo_queue_added_to_the_copy_feeds_its_function_with_lambda_semantics(
    copy_stack: LocalStackProcess, rest: Rest
) -> None:
    jobs = [
        {"group": "g1", "body": "ok-1"},
        {"group": "g1", "body": "fail-1"},
        {"group": "g2", "body": "ok-2"},
    ]
    assert rest.post("/jobs", jobs).status_code == 202

    deadline = time.monotonic() + 20
    while True:
        attempts = [item for item in rest.get("/items").json() if item["pk"].startswith("job#")]
        dead = rest.get("/dead").json()
        if "fail-1" in dead or time.monotonic() > deadline:
            break
        time.sleep(0.3)

    counts = sorted((item["body"], item["receive_count"]) for item in attempts)
    assert dead == ["fail-1"]  # maxReceiveCount 2, then the redrive policy's dead-letter queue
    assert counts == [("fail-1", "1"), ("fail-1", "2"), ("ok-1", "1"), ("ok-2", "1")]
    for item in attempts:
        assert item["event_source"] == "aws:sqs"
        assert item["event_source_arn"].endswith(":e2e-JobsQueue.fifo")
        assert item["deduplication_id"] == item["body"]
        assert item["has_sequence_number"] is True
        assert item["batch_groups"] == [item["group"]]  # one message group per batch


def test_ctrl_c_stops_everything_with_nothing_left_behind(tmp_path: Path) -> None:
    running = LocalStackProcess(
        tmp_path, template=template_copy(tmp_path), extra_args=["--no-prewarm"]
    ).wait_ready()
    socket = Socket(running.urls["ws"] + "?token=let-me-in")
    assert Rest(running.urls["rest"]).get("/echo/warm").status_code == 200  # a worker is running

    running.stop()  # SIGINT to the group; asserts exit code 0 and no leftover process

    assert socket.closed.wait(5)
