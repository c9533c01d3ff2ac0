"""The attachments bucket in template.yaml, and the local stack's POST policy check."""

from __future__ import annotations

import base64
import json
import time

import boto3
import pytest
from botocore.config import Config

from local.s3 import PolicyRefused, check_post
from local.template import load_template, resources_of_type

TEMPLATE = load_template()
RESOURCES = TEMPLATE["Resources"]
BUCKET = RESOURCES["AttachmentsBucket"]


def test_the_bucket_is_private_encrypted_and_kept():
    properties = BUCKET["Properties"]
    assert set(properties["PublicAccessBlockConfiguration"].values()) == {True}
    assert len(properties["PublicAccessBlockConfiguration"]) == 4
    (rule,) = properties["BucketEncryption"]["ServerSideEncryptionConfiguration"]
    assert rule["ServerSideEncryptionByDefault"]["SSEAlgorithm"] in ("AES256", "aws:kms")
    assert properties["OwnershipControls"]["Rules"] == [{"ObjectOwnership": "BucketOwnerEnforced"}]
    for name in ("AttachmentsBucket", "AttachmentsTable"):
        assert RESOURCES[name]["DeletionPolicy"] == "RetainExceptOnCreate"
        assert RESOURCES[name]["UpdateReplacePolicy"] == "Retain"


def test_the_bucket_policy_denies_requests_without_tls():
    policy = RESOURCES["AttachmentsBucketPolicy"]["Properties"]
    assert policy["Bucket"] == {"Ref": "AttachmentsBucket"}
    (statement,) = policy["PolicyDocument"]["Statement"]
    assert statement["Effect"] == "Deny" and statement["Principal"] == "*"
    assert statement["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
    assert len(statement["Resource"]) == 2  # the bucket and its objects


def test_browsers_may_upload_from_the_allowed_origin():
    (rule,) = BUCKET["Properties"]["CorsConfiguration"]["CorsRules"]
    assert rule["AllowedOrigins"] == [{"Ref": "CorsAllowOrigin"}]
    assert "POST" in rule["AllowedMethods"]


def test_lifecycle_deletes_only_uploads_and_aborts_incomplete_ones():
    from chat.adapters.storage import object_key, upload_key

    rules = BUCKET["Properties"]["LifecycleConfiguration"]["Rules"]
    aborts = [r for r in rules if "AbortIncompleteMultipartUpload" in r]
    assert aborts and aborts[0]["AbortIncompleteMultipartUpload"]["DaysAfterInitiation"] == 1
    expiring = [
        r
        for r in rules
        if {"ExpirationInDays", "ExpirationDate", "NoncurrentVersionExpiration"} & set(r)
    ]
    # Every expiring rule is limited to the uploads/ prefix, by key alone: no tag an upload
    # could set or restore decides it. An attached file (a copy under rooms/) never matches.
    assert expiring
    for rule in expiring:
        assert rule["Prefix"] == "uploads/" and "TagFilters" not in rule
        assert rule["ExpirationInDays"] == 1
        assert upload_key("r1", "a1").startswith(rule["Prefix"])
        assert not object_key("r1", "m1", "a1").startswith(rule["Prefix"])


def test_only_the_functions_that_need_it_get_the_bucket_scoped_to_it():
    with_bucket = {}
    for name, function in resources_of_type(TEMPLATE, "AWS::Serverless::Function").items():
        text = json.dumps(function["Properties"].get("Policies", []))
        if "AttachmentsBucket" in text:
            with_bucket[name] = function["Properties"]
    assert set(with_bucket) == {
        "RoomsFunction",
        "WsMessageFunction",
        "BotWorkerFunction",
        "SearchFunction",
        "AccountEraserFunction",  # a closed account's erased messages' files
    }
    for name, properties in with_bucket.items():
        variables = properties["Environment"]["Variables"]
        assert variables["ATTACHMENTS_BUCKET"] == {"Ref": "AttachmentsBucket"}, name
        for policy in properties["Policies"]:
            for statement in policy.get("Statement", []) if isinstance(policy, dict) else []:
                actions = statement["Action"]
                actions = actions if isinstance(actions, list) else [actions]
                if any(action.startswith("s3:") for action in actions):
                    assert "*" not in "".join(actions), name
                    assert "AttachmentsBucket" in json.dumps(statement["Resource"]), name
    bot_s3 = json.dumps(with_bucket["BotWorkerFunction"]["Policies"])
    assert "s3:GetObject" in bot_s3 and "s3:PutObject" not in bot_s3
    assert "uploads/" not in bot_s3  # the bot reads attached files only
    search_s3 = json.dumps(with_bucket["SearchFunction"]["Policies"])  # signs results' GETs
    assert "s3:GetObject" in search_s3 and "s3:PutObject" not in search_s3
    assert "uploads/" not in search_s3
    eraser_s3 = json.dumps(with_bucket["AccountEraserFunction"]["Policies"])  # deletes only
    assert "s3:DeleteObject" in eraser_s3
    assert "s3:GetObject" not in eraser_s3 and "s3:PutObject" not in eraser_s3
    # Sending over the WebSocket writes (and discards) only attached files, never uploads
    for statement in _s3_statements(with_bucket["WsMessageFunction"]):
        if set(_actions(statement)) - {"s3:GetObject", "s3:ListBucket"}:
            assert "uploads/" not in json.dumps(statement["Resource"])


def _actions(statement) -> list[str]:
    actions = statement["Action"]
    return actions if isinstance(actions, list) else [actions]


def _s3_statements(properties) -> list[dict]:
    return [
        statement
        for policy in properties["Policies"]
        if isinstance(policy, dict)
        for statement in policy.get("Statement", [])
        if any(action.startswith("s3:") for action in _actions(statement))
    ]


# ------------------------------------------------------------------------------ local POST check
def _post(conditions_size=10, expires_in=300):
    s3 = boto3.client(
        "s3",
        region_name="us-east-1",
        endpoint_url="http://127.0.0.1:1",
        aws_access_key_id="local",
        aws_secret_access_key="local",
        config=Config(signature_version="s3v4"),
    )
    return s3.generate_presigned_post(
        "bucket-one",
        "rooms/r/a",
        Fields={"Content-Type": "image/png"},
        Conditions=[
            {"Content-Type": "image/png"},
            ["content-length-range", conditions_size, conditions_size],
        ],
        ExpiresIn=expires_in,
    )["fields"]


def _refusal(fields, size=10, **kwargs) -> tuple[int, str] | None:
    try:
        check_post("bucket-one", fields, size, credentials={"local": "local"}, **kwargs)
    except PolicyRefused as refused:
        return refused.status, refused.code
    return None


def test_a_matching_upload_passes():
    assert _refusal(_post()) is None


@pytest.mark.parametrize(
    ("change", "size", "expected"),
    [
        ({}, 11, (400, "EntityTooLarge")),
        ({}, 9, (400, "EntityTooSmall")),
        ({"Content-Type": "text/html"}, 10, (403, "AccessDenied")),
        ({"key": "rooms/r/other"}, 10, (403, "AccessDenied")),
        ({"acl": "public-read"}, 10, (403, "AccessDenied")),  # a field no condition covers
        ({"x-amz-signature": "0" * 64}, 10, (403, "SignatureDoesNotMatch")),
        ({"x-amz-credential": "someone/20260101/us-east-1/s3/aws4_request"}, 10, (403, "AccessDenied")),
    ],
)  # fmt: skip
def test_what_s3_refuses_the_local_stack_refuses(change, size, expected):
    assert _refusal({**_post(), **change}, size) == expected


def test_an_expired_policy_is_refused():
    assert _refusal(_post(expires_in=60), now=time.time() + 61) == (403, "AccessDenied")


def test_a_tampered_policy_fails_its_signature():
    fields = _post()
    policy = json.loads(base64.b64decode(fields["policy"]))
    policy["conditions"] = [c for c in policy["conditions"] if "content-length-range" not in c]
    fields["policy"] = base64.b64encode(json.dumps(policy).encode()).decode()
    assert _refusal(fields, size=5) == (403, "SignatureDoesNotMatch")
