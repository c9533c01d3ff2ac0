"""The local stack's AWS endpoints over real sockets (local/aws_server.py): S3 on its own
origin, verifying every signature as S3 does, and the AWS APIs refusing anything but an
AWS SDK, so no page can read the local secrets."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Iterator
from typing import Any

import boto3
import httpx
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from tests.e2e.conftest import ROOT

BUCKET = "files"
ORIGIN = "http://127.0.0.1:3003"  # a web client's origin


@pytest.fixture(scope="module")
def endpoints() -> Iterator[dict[str, str]]:
    server = subprocess.Popen(
        [sys.executable, "-m", "local.aws_server", "--port", "0", "--s3-port", "0"],
        cwd=ROOT,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
    )
    assert server.stdout is not None and server.stdin is not None
    _, port, s3_port = server.stdout.readline().decode().split()
    urls = {"aws": f"http://127.0.0.1:{port}", "s3": f"http://127.0.0.1:{s3_port}"}
    s3 = client("s3", urls["s3"])
    s3.create_bucket(Bucket=BUCKET)
    s3.put_bucket_cors(
        Bucket=BUCKET,
        CORSConfiguration={
            "CORSRules": [
                {
                    "AllowedOrigins": ["*"],
                    "AllowedMethods": ["GET", "POST"],
                    "AllowedHeaders": ["*"],
                }
            ]
        },
    )
    s3.put_object(
        Bucket=BUCKET, Key="rooms/r/m/notes.txt", Body=b"<b>hi</b>", ContentType="text/plain"
    )
    client("secretsmanager", urls["aws"]).create_secret(Name="jwt", SecretString="the-jwt-key")
    yield urls
    server.stdin.close()
    server.wait(10)


def client(service: str, endpoint: str, secret: str = "local") -> Any:
    return boto3.client(
        service,
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id="local",
        aws_secret_access_key=secret,
        aws_session_token="local",
        config=Config(signature_version="s3v4", retries={"max_attempts": 1}),
    )


def presigned(endpoints: dict[str, str], expires_in: int = 60, **params: str) -> str:
    return client("s3", endpoints["s3"]).generate_presigned_url(
        "get_object",
        Params={"Bucket": BUCKET, "Key": "rooms/r/m/notes.txt", **params},
        ExpiresIn=expires_in,
    )


# ------------------------------------------------------------------------------ S3 as S3
@pytest.mark.parametrize("port", ["s3", "aws"])
def test_what_the_functions_ask_of_s3_is_served_on_either_port(endpoints, port) -> None:
    s3 = client("s3", endpoints[port])
    key = f"uploads/r/{port} ü+b c"
    s3.put_object(Bucket=BUCKET, Key=key, Body=b"\x89PNG....", ContentType="image/png")
    copied = f"rooms/r/{port}/copy"
    s3.copy_object(
        Bucket=BUCKET,
        Key=copied,
        CopySource={"Bucket": BUCKET, "Key": key},
        MetadataDirective="COPY",
        TaggingDirective="REPLACE",
    )
    assert s3.head_object(Bucket=BUCKET, Key=copied)["ContentType"] == "image/png"
    ranged = s3.get_object(Bucket=BUCKET, Key=copied, Range="bytes=0-3")
    assert ranged["Body"].read() == b"\x89PNG"
    listed = s3.list_objects_v2(Bucket=BUCKET, Prefix=f"rooms/r/{port}/")["Contents"]
    assert [o["Key"] for o in listed] == [copied]
    deleted = s3.delete_objects(
        Bucket=BUCKET, Delete={"Objects": [{"Key": key}, {"Key": copied}], "Quiet": True}
    )
    assert not deleted.get("Errors")


def test_a_presigned_get_is_served_as_signed_and_only_so(endpoints) -> None:
    url = presigned(
        endpoints,
        ResponseContentType="text/plain",
        ResponseContentDisposition="inline; filename=\"n.txt\"; filename*=UTF-8''n%C3%BC.txt",
    )
    served = httpx.get(url)
    assert served.status_code == 200 and served.content == b"<b>hi</b>"
    assert served.headers["content-type"] == "text/plain"
    assert served.headers["x-content-type-options"] == "nosniff"
    tampered = {
        "zero signature": url.split("X-Amz-Signature=")[0] + "X-Amz-Signature=" + "0" * 64,
        "served as html": url + "&response-content-type=text%2Fhtml",
        "another key": url.replace("notes.txt", "other.txt"),
        "longer expiry": url.replace("X-Amz-Expires=60", "X-Amz-Expires=600"),
    }
    for name, changed in tampered.items():
        refused = httpx.get(changed)
        assert refused.status_code == 403, name
        assert b"SignatureDoesNotMatch" in refused.content, name


def test_an_expired_presigned_get_is_refused(endpoints) -> None:
    url = presigned(endpoints, expires_in=1)
    time.sleep(2.1)
    refused = httpx.get(url)
    assert refused.status_code == 403 and b"Request has expired" in refused.content


@pytest.mark.parametrize("port", ["s3", "aws"])
def test_unsigned_and_badly_signed_requests_are_refused(endpoints, port) -> None:
    base = f"{endpoints[port]}/{BUCKET}"
    junk = (
        "AWS4-HMAC-SHA256 Credential=local/20260101/us-east-1/s3/aws4_request, "
        "SignedHeaders=host, Signature=" + "0" * 64
    )
    for name, request in {
        "unsigned listing": ("GET", base, {}),
        "unsigned listing v2": ("GET", f"{base}?list-type=2", {}),
        "unsigned object": ("GET", f"{base}/rooms/r/m/notes.txt", {}),
        "unsigned put": ("PUT", f"{base}/rooms/r/m/notes.txt", {}),
        "junk authorization": ("GET", f"{base}/rooms/r/m/notes.txt", {"Authorization": junk}),
    }.items():
        method, url, headers = request
        assert httpx.request(method, url, headers=headers).status_code == 403, name
    with pytest.raises(ClientError) as forged:
        client("s3", endpoints[port], secret="not-the-local-secret").list_objects_v2(Bucket=BUCKET)
    assert forged.value.response["Error"]["Code"] == "SignatureDoesNotMatch"
    assert (
        client("s3", endpoints["s3"])
        .get_object(Bucket=BUCKET, Key="rooms/r/m/notes.txt")["Body"]
        .read()
        == b"<b>hi</b>"
    )  # nothing was replaced


def test_a_browser_uploads_to_the_s3_origin_with_cors(endpoints) -> None:
    form = client("s3", endpoints["s3"]).generate_presigned_post(
        BUCKET,
        "uploads/r/a",
        Fields={"Content-Type": "text/plain"},
        Conditions=[{"Content-Type": "text/plain"}, ["content-length-range", 3, 3]],
        ExpiresIn=60,
    )
    preflight = httpx.options(
        form["url"], headers={"Origin": ORIGIN, "Access-Control-Request-Method": "POST"}
    )
    assert preflight.status_code == 200
    assert preflight.headers["access-control-allow-origin"] in (ORIGIN, "*")
    posted = httpx.post(
        form["url"], data=form["fields"], files={"file": ("a", b"abc")}, headers={"Origin": ORIGIN}
    )
    assert posted.status_code == 204
    assert posted.headers["access-control-allow-origin"] in (ORIGIN, "*")
    too_big = httpx.post(form["url"], data=form["fields"], files={"file": ("a", b"abcd")})
    assert too_big.status_code == 400 and b"EntityTooLarge" in too_big.content


# ------------------------------------------------------------------------------ the AWS APIs
SECRET_CALL = {
    "content": json.dumps({"SecretId": "jwt"}),
    "headers": {
        "X-Amz-Target": "secretsmanager.GetSecretValue",
        "Content-Type": "application/x-amz-json-1.1",
    },
}


def test_the_aws_apis_answer_sdks_only(endpoints) -> None:
    aws = endpoints["aws"]
    assert client("secretsmanager", aws).get_secret_value(SecretId="jwt")["SecretString"]
    page_like = {
        "a page's fetch": {"Origin": ORIGIN},
        "a same-origin fetch": {"Sec-Fetch-Site": "same-origin", "Sec-Fetch-Mode": "cors"},
        "a form or navigation": {"Sec-Fetch-Mode": "navigate", "Sec-Fetch-Dest": "document"},
        "unsigned": {},
    }
    for name, headers in page_like.items():
        call = {**SECRET_CALL, "headers": {**SECRET_CALL["headers"], **headers}}
        refused = httpx.post(aws, **call)
        assert refused.status_code == 403, name
        assert b"the-jwt-key" not in refused.content, name
        assert "access-control-allow-origin" not in refused.headers, name
    preflight = httpx.options(
        aws, headers={"Origin": ORIGIN, "Access-Control-Request-Method": "POST"}
    )
    assert preflight.status_code == 403
    assert "access-control-allow-origin" not in preflight.headers
    assert httpx.post(f"{aws}/moto-api/reset").status_code == 403


def test_the_s3_origin_serves_nothing_but_s3(endpoints) -> None:
    with pytest.raises(ClientError) as refused_sdk:
        client("secretsmanager", endpoints["s3"]).get_secret_value(SecretId="jwt")
    assert refused_sdk.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403
    refused = httpx.post(endpoints["s3"], **SECRET_CALL)
    assert refused.status_code == 403 and b"the-jwt-key" not in refused.content
    assert httpx.post(f"{endpoints['s3']}/moto-api/reset").status_code == 403
    assert client("s3", endpoints["s3"]).head_bucket(Bucket=BUCKET)  # still there
