"""tools/reindex_search.py pauses a deployed stack's search indexer while it rewrites the
index: the event source disabled, a batch in flight waited out, and enabled again after,
also when the rebuild fails (botocore's Stubber stands in for CloudFormation and Lambda)."""

from __future__ import annotations

import boto3
import pytest
from botocore.stub import Stubber

from tools.reindex_search import indexer_mapping, indexer_paused, stack_resources

MAPPING = "5f0c1a8e-1111-2222-3333-444455556666"
FUNCTION = "arn:aws:lambda:us-east-1:123456789012:function:chat-SearchIndexerFunction-X"


def _stubbed():
    cloudformation = boto3.client("cloudformation", region_name="us-east-1")
    lambda_client = boto3.client("lambda", region_name="us-east-1")
    cfn, lam = Stubber(cloudformation), Stubber(lambda_client)
    resource = {
        "StackName": "chat",
        "ResourceStatus": "UPDATE_COMPLETE",
        "Timestamp": "2026-01-01T00:00:00Z",
    }
    cfn.add_response(
        "describe_stack_resources",
        {
            "StackResources": [
                {
                    **resource,
                    "LogicalResourceId": "SearchIndexerFunctionMessageChanges",
                    "PhysicalResourceId": MAPPING,
                    "ResourceType": "AWS::Lambda::EventSourceMapping",
                },
                {
                    **resource,
                    "LogicalResourceId": "BotWorkerFunctionCommands",
                    "PhysicalResourceId": "another-mapping",
                    "ResourceType": "AWS::Lambda::EventSourceMapping",
                },
            ]
        },
        {"StackName": "chat"},
    )
    lam.add_response(
        "update_event_source_mapping", {"UUID": MAPPING}, {"UUID": MAPPING, "Enabled": False}
    )
    for state in ("Disabling", "Disabled"):
        lam.add_response(
            "get_event_source_mapping",
            {"UUID": MAPPING, "State": state, "FunctionArn": FUNCTION},
            {"UUID": MAPPING},
        )
    lam.add_response("get_function_configuration", {"Timeout": 60}, {"FunctionName": FUNCTION})
    lam.add_response(
        "update_event_source_mapping", {"UUID": MAPPING}, {"UUID": MAPPING, "Enabled": True}
    )
    return cloudformation, lambda_client, cfn, lam


def test_the_indexer_is_paused_for_the_rebuild_and_resumed_after():
    cloudformation, lambda_client, cfn, lam = _stubbed()
    slept: list[float] = []
    ran = []
    with cfn, lam:
        mapping = indexer_mapping(stack_resources("chat", cloudformation))
        with indexer_paused(mapping, lambda_client, slept.append):
            ran.append(list(slept))  # the rebuild runs once the batch in flight is over
        lam.assert_no_pending_responses()
    assert ran == [[2, 60]]  # polled until disabled, then the function's timeout


def test_the_indexer_is_resumed_when_the_rebuild_fails():
    cloudformation, lambda_client, cfn, lam = _stubbed()
    with cfn, lam:
        mapping = indexer_mapping(stack_resources("chat", cloudformation))
        paused = indexer_paused(mapping, lambda_client, lambda _: None)
        with pytest.raises(RuntimeError), paused:
            raise RuntimeError("throttled")
        lam.assert_no_pending_responses()  # the last one: Enabled=True
