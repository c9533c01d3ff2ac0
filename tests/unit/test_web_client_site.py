"""The web client's deployment: the optional static site in template.yaml, `make publish-web`,
and the local server `make dev` runs (local/web_site.py)."""

from __future__ import annotations

import importlib.util
import json
import urllib.request
from pathlib import Path

import boto3
import pytest
from botocore.stub import Stubber
from moto import mock_aws

from local import web_site
from local.template import ROOT, load_template

TEMPLATE = load_template()
RESOURCES = TEMPLATE["Resources"]
SITE = [name for name, r in RESOURCES.items() if r.get("Condition") == "WithWebClient"]

_spec = importlib.util.spec_from_file_location("publish_web", ROOT / "web" / "publish.py")
assert _spec and _spec.loader
publish_web = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(publish_web)


def test_the_site_is_optional_and_off_by_default():
    assert TEMPLATE["Parameters"]["WebClient"]["Default"] == "false"
    assert TEMPLATE["Conditions"]["WithWebClient"] == {
        "Equals": [{"Ref": "WebClient"}, "true"]
    } or (TEMPLATE["Conditions"]["WithWebClient"] == {"Fn::Equals": [{"Ref": "WebClient"}, "true"]})
    types = {RESOURCES[name]["Type"] for name in SITE}
    assert types == {
        "AWS::S3::Bucket",
        "AWS::S3::BucketPolicy",
        "AWS::CloudFront::OriginAccessControl",
        "AWS::CloudFront::ResponseHeadersPolicy",
        "AWS::CloudFront::Distribution",
    }
    for name, output in TEMPLATE["Outputs"].items():
        if name.startswith("WebClient"):
            assert output["Condition"] == "WithWebClient"


def test_the_bucket_is_private_and_read_only_through_the_distribution():
    bucket = RESOURCES["WebClientBucket"]["Properties"]
    assert all(bucket["PublicAccessBlockConfiguration"].values())
    statements = RESOURCES["WebClientBucketPolicy"]["Properties"]["PolicyDocument"]["Statement"]
    allow = [s for s in statements if s["Effect"] == "Allow"]
    assert len(allow) == 1
    assert allow[0]["Principal"] == {"Service": "cloudfront.amazonaws.com"}
    assert allow[0]["Action"] == "s3:GetObject"
    assert "WebClientDistribution" in json.dumps(allow[0]["Condition"])
    origin = RESOURCES["WebClientDistribution"]["Properties"]["DistributionConfig"]["Origins"][0]
    assert "OriginAccessControlId" in origin


BUCKET_ORIGINS = [
    "https://${AttachmentsBucket}.s3.amazonaws.com",
    "https://${AttachmentsBucket.RegionalDomainName}",
]


def test_https_only_with_security_headers_and_a_csp_naming_only_the_stack_origins():
    config = RESOURCES["WebClientDistribution"]["Properties"]["DistributionConfig"]
    assert config["DefaultCacheBehavior"]["ViewerProtocolPolicy"] == "https-only"
    headers = RESOURCES["WebClientHeadersPolicy"]["Properties"]["ResponseHeadersPolicyConfig"][
        "SecurityHeadersConfig"
    ]
    csp = headers["ContentSecurityPolicy"]["ContentSecurityPolicy"]
    csp = csp.get("Fn::Sub", csp)
    directives = dict(
        (part.split()[0], part.split()[1:]) for part in " ".join(csp.split()).split("; ")
    )
    assert directives["script-src"] == ["'self'"]
    assert directives["default-src"] == ["'self'"]
    assert directives["frame-ancestors"] == ["'none'"]
    assert directives["connect-src"] == [
        "'self'",
        "https://${RestApi}.execute-api.${AWS::Region}.${AWS::URLSuffix}",
        "wss://${WebSocketApi}.execute-api.${AWS::Region}.${AWS::URLSuffix}",
        *BUCKET_ORIGINS,  # uploads go straight to the attachments bucket (presigned POST)
    ]
    assert directives["img-src"] == ["'self'", "data:", "blob:", *BUCKET_ORIGINS]
    assert headers["StrictTransportSecurity"]["AccessControlMaxAgeSec"] >= 31536000
    assert headers["FrameOptions"]["FrameOption"] == "DENY"


def test_browsers_may_use_every_method_the_client_sends():
    allowed = RESOURCES["RestApi"]["Properties"]["Cors"]["AllowMethods"].strip("'").split(",")
    assert {"GET", "POST", "PUT", "PATCH", "DELETE"} <= set(allowed)


OUTPUTS = {
    "WebClientBucketName": "site-bucket",
    "WebClientDistributionId": "E123EXAMPLE",
    "WebClientUrl": "https://d111.cloudfront.net",
    "RestApiUrl": "https://abc.execute-api.us-east-1.amazonaws.com/v1",
    "WebSocketUrl": "wss://def.execute-api.us-east-1.amazonaws.com/v1",
}


@mock_aws
def test_publish_uploads_the_build_and_config_removes_stale_files_and_invalidates(tmp_path: Path):
    dist = tmp_path / "dist"
    dist.mkdir()
    (dist / "index.html").write_text("<!doctype html>")
    (dist / "app.js").write_text("console.log(1)")
    (dist / "config.json").write_text('{"rest_url": "http://127.0.0.1:3000"}')  # never published
    s3 = boto3.client("s3", region_name="us-east-1")
    s3.create_bucket(Bucket="site-bucket")
    s3.put_object(Bucket="site-bucket", Key="old-app.js", Body=b"stale")
    cloudfront = boto3.client("cloudfront", region_name="us-east-1")
    with Stubber(cloudfront) as stub:
        stub.add_response(
            "create_invalidation",
            {
                "Invalidation": {
                    "Id": "I1",
                    "Status": "InProgress",
                    "CreateTime": "2026-01-01T00:00:00Z",
                    "InvalidationBatch": {
                        "Paths": {"Quantity": 1, "Items": ["/*"]},
                        "CallerReference": "x",
                    },
                }
            },
        )
        uploaded = publish_web.publish(s3, cloudfront, OUTPUTS, dist)
        stub.assert_no_pending_responses()
    keys = sorted(o["Key"] for o in s3.list_objects_v2(Bucket="site-bucket")["Contents"])
    assert keys == ["app.js", "config.json", "index.html"] == sorted(uploaded)
    config = json.loads(s3.get_object(Bucket="site-bucket", Key="config.json")["Body"].read())
    assert config == {"rest_url": OUTPUTS["RestApiUrl"], "ws_url": OUTPUTS["WebSocketUrl"]}
    script = s3.head_object(Bucket="site-bucket", Key="app.js")
    assert script["ContentType"].startswith("text/javascript")


def test_publish_explains_a_stack_without_the_site_and_a_missing_build(tmp_path: Path):
    class Stacks:
        def describe_stacks(self, StackName):
            return {"Stacks": [{"Outputs": [{"OutputKey": "RestApiUrl", "OutputValue": "x"}]}]}

    with pytest.raises(publish_web.PublishError, match="WebClient=true"):
        publish_web.stack_facts(Stacks(), "chat")
    with pytest.raises(publish_web.PublishError, match="make web"):
        publish_web.files_of(tmp_path)
    assert publish_web.cors_warning(OUTPUTS, {"CorsAllowOrigin": "*"}) is None
    assert publish_web.cors_warning(OUTPUTS, {"CorsAllowOrigin": OUTPUTS["WebClientUrl"]}) is None
    assert "refuses" in publish_web.cors_warning(OUTPUTS, {"CorsAllowOrigin": "https://other"})


def test_the_local_server_serves_the_build_a_config_for_the_local_apis_and_the_csp():
    urls = {
        "rest": "http://127.0.0.1:3000",
        "ws": "ws://127.0.0.1:3001",
        "aws": "http://127.0.0.1:3002",
        "s3": "http://127.0.0.1:3004",
    }
    server = web_site.start("127.0.0.1", 0, urls)
    try:
        with urllib.request.urlopen(f"{server.url}/config.json") as response:  # noqa: S310
            assert json.load(response) == {"rest_url": urls["rest"], "ws_url": urls["ws"]}
            csp = response.headers["Content-Security-Policy"]
        assert (
            "connect-src 'self' http://127.0.0.1:3000 ws://127.0.0.1:3001 http://127.0.0.1:3004;"
            in csp
        )
        assert "img-src 'self' data: blob: http://127.0.0.1:3000 http://127.0.0.1:3004;" in csp
        assert "3002" not in csp  # the AWS APIs are no origin a page may talk to
        assert "script-src 'self'" in csp
        with urllib.request.urlopen(f"{server.url}/") as response:  # noqa: S310
            assert response.status in (200,)
            assert response.headers["X-Content-Type-Options"] == "nosniff"
    except urllib.error.HTTPError as error:  # not built: a page that says how to build it
        assert error.code == 503 and b"make web" in error.read()
    finally:
        server.stop()
