"""Run the handlers as Lambda runs them with X-Ray on, sending the trace to a fake daemon.

Started by test_secrets_in_traces.py in its own process (tracing patches botocore for good,
which must not leak into other tests):
``python -m tests.integration.trace_probe <daemon host:port> <canaries as JSON>``.

The process looks like a Lambda container to Powertools and the X-Ray SDK (LAMBDA_TASK_ROOT,
_X_AMZN_TRACE_ID, AWS_XRAY_DAEMON_ADDRESS), so the Tracer is enabled, patches botocore
(chat.observability) and streams each finished subsegment to the daemon address over UDP, as
in AWS. The functions get the tracer settings template.yaml gives them (tests/conftest.py
reads them from Globals). Everything AWS is moto; the bot's model is the fake Gemini.
"""

from __future__ import annotations

import json
import os
import sys


def main(daemon: str, canaries: dict[str, str]) -> None:
    import tests.conftest  # noqa: F401  (the functions' environment, from template.yaml)

    os.environ.update(
        {
            "POWERTOOLS_TRACE_DISABLED": "false",
            "LAMBDA_TASK_ROOT": os.getcwd(),
            "AWS_LAMBDA_FUNCTION_NAME": "trace-probe",
            "_X_AMZN_TRACE_ID": "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1",
            "AWS_XRAY_DAEMON_ADDRESS": daemon,
            "AWS_XRAY_CONTEXT_MISSING": "LOG_ERROR",
            "POWERTOOLS_LOG_LEVEL": "ERROR",
        }
    )
    import boto3
    from moto import mock_aws

    from chat import aws
    from chat.config import settings
    from chat.observability import tracer as create_tracer
    from local.fake_gemini import Reply, start
    from local.template import create_tables, load_template
    from tests.support.clients import RestClient, Sockets, WebSocketClient, handler_of
    from tests.support.cloudformation import parameter_value
    from tests.support.events import LambdaContext, sqs_event

    # Only the bot worker has a tracer; created first here, as if every function had one, it
    # patches botocore for the whole process, so the REST and WebSocket code's AWS calls and
    # fan-outs are recorded too and searched for secrets (were a tracer ever given back to
    # them). That they have none on Lambda is test_api_handlers_load_no_xray_sdk.
    tracer = create_tracer()
    assert not tracer.disabled, "the probe must run with the tracer enabled"
    with mock_aws(), start() as gemini:
        create_tables(boto3.client("dynamodb"), load_template())
        boto3.client("secretsmanager").create_secret(
            Name=os.environ["JWT_SECRET_ARN"], SecretString=canaries["jwt_key"]
        )
        key_id = boto3.client("kms").create_key()["KeyMetadata"]["KeyId"]
        sqs = boto3.client("sqs")
        queue_url = sqs.create_queue(
            QueueName="BotCommandsQueue.fifo", Attributes={"FifoQueue": "true"}
        )["QueueUrl"]
        fanout_url = sqs.create_queue(
            QueueName="FanoutQueue.fifo", Attributes={"FifoQueue": "true"}
        )["QueueUrl"]
        boto3.client("ssm").put_parameter(
            Name="BigRoomsSettings",
            Type="String",
            Value=parameter_value(load_template(), "BigRoomsSettings"),
        )
        os.environ.update(
            GEMINI_KEYS_KMS_KEY_ID=key_id,
            BOT_QUEUE_URL=queue_url,
            FANOUT_QUEUE_URL=fanout_url,
            BIG_ROOMS_PARAMETER="BigRoomsSettings",
            GEMINI_BASE_URL=gemini.base_url,
        )
        settings.cache_clear()
        rest = RestClient()
        sockets = Sockets(aws.management_api())

        # REST: register, log in, who am I, a room with a key, its bot key changed, a message
        password, api_key = canaries["password"], canaries["api_key"]
        token = rest.post("/auth/register", {"username": "alice", "password": password}).body[
            "access_token"
        ]
        login = rest.post("/auth/login", {"username": "alice", "password": password})
        token = login.body["access_token"]
        rest.post("/auth/login", {"username": "alice", "password": password + "-wrong"})
        assert rest.get("/auth/me", token=token).status == 200
        room = rest.post("/rooms", {"name": "r", "gemini_api_key": api_key}, token=token).body
        rest.put(f"/rooms/{room['room_id']}/bot", {"gemini_api_key": api_key}, token=token)
        # WebSocket: connect with the token, join, say something
        client = WebSocketClient(sockets, token)
        assert client.connect() == 200
        client.send({"type": "join", "room_id": room["room_id"]})
        client.send(
            {"type": "message", "room_id": room["room_id"], "content": canaries["ws_message"]}
        )
        # The bot: a command over REST, answered by the worker from the queue
        gemini.script(Reply(text=canaries["answer"]))
        posted = rest.post(
            f"/rooms/{room['room_id']}/messages",
            {"content": f"@bot {canaries['command']}"},
            token=token,
        )
        assert posted.status == 201, posted.body
        records = sqs.receive_message(
            QueueUrl=queue_url, MaxNumberOfMessages=1, AttributeNames=["All"]
        )["Messages"]
        arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])[
            "Attributes"
        ]["QueueArn"]
        handler_of("BotWorkerFunction")(
            sqs_event(records, arn), LambdaContext("BotWorkerFunction", 60_000)
        )
        assert gemini.requests and gemini.requests[0].api_key == api_key
        assert any(canaries["answer"] in json.dumps(f) for f in client.frames()), "no answer"

        # The control: a handler whose response *is* recorded, so the daemon must see it
        @tracer.capture_lambda_handler(capture_response=True)
        def control(event, context):
            return {"control": canaries["control"]}

        control({}, LambdaContext("control"))


if __name__ == "__main__":
    main(sys.argv[1], json.loads(sys.argv[2]))
