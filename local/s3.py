"""S3 in the local stack: the template's buckets created in moto, and the check of presigned
POST uploads that moto's server does not make.

Buckets: `AWS::S3::Bucket` resources become moto buckets named `<stack>-<logical id>`
(lowercase), with their CORS rules, lifecycle rules, public access block and default
encryption applied (moto stores them; it runs no lifecycle). `AWS::S3::BucketPolicy` is
not applied: moto's server does evaluate bucket policies, and this template's denies every
request without TLS, which is all the local stack serves. It is listed as not emulated.

Uploads: moto's server stores any POST to a bucket, whatever its policy says (it checks no
signature, no expiry, no condition; it even ignores the key the policy pins). S3 refuses
an upload unless it matches the policy. `PostPolicyCheck` wraps moto's WSGI app and makes
the same checks S3 makes before moto sees the request: a valid SigV4 signature for the
credentials the local stack hands out, the policy not expired, and every condition
(`eq`, `starts-with`, `content-length-range` against the `file` field's size) met by the
form, every form field covered by a condition. A refused upload gets S3's XML error
(403 AccessDenied / SignatureDoesNotMatch, 400 EntityTooSmall / EntityTooLarge).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import io
import json
import time
from collections.abc import Callable, Iterable
from datetime import datetime
from typing import Any
from xml.sax.saxutils import escape

from local.symbols import Physical

BUCKET_TYPE = "AWS::S3::Bucket"
# The credentials every local function gets (local.lambda_runtime.lambda_environment).
LOCAL_CREDENTIALS = {"local": "local"}
# Form fields S3 does not require a policy condition for.
_UNCHECKED_FIELDS = {"policy", "x-amz-signature", "file", "signature", "awsaccesskeyid"}


# ---------------------------------------------------------------------- provisioning
def bucket_name(stack_name: str, logical_id: str) -> str:
    return f"{stack_name}-{logical_id}".lower()[:63]


def create_bucket(s3: Any, name: str, properties: dict[str, Any]) -> Physical:
    """Create a bucket from its CloudFormation properties."""
    name = properties.get("BucketName") or name
    s3.create_bucket(Bucket=name)
    cors = (properties.get("CorsConfiguration") or {}).get("CorsRules")
    if cors:
        s3.put_bucket_cors(
            Bucket=name,
            CORSConfiguration={"CORSRules": [_cors_rule(rule) for rule in cors]},
        )
    rules = (properties.get("LifecycleConfiguration") or {}).get("Rules")
    if rules:
        s3.put_bucket_lifecycle_configuration(
            Bucket=name,
            LifecycleConfiguration={"Rules": [_lifecycle_rule(rule) for rule in rules]},
        )
    block = properties.get("PublicAccessBlockConfiguration")
    if block:
        s3.put_public_access_block(
            Bucket=name, PublicAccessBlockConfiguration={k: bool(v) for k, v in block.items()}
        )
    encryption = properties.get("BucketEncryption")
    if encryption:
        s3.put_bucket_encryption(
            Bucket=name,
            ServerSideEncryptionConfiguration={
                "Rules": [
                    {
                        "ApplyServerSideEncryptionByDefault": rule["ServerSideEncryptionByDefault"],
                        **(
                            {"BucketKeyEnabled": bool(rule["BucketKeyEnabled"])}
                            if "BucketKeyEnabled" in rule
                            else {}
                        ),
                    }
                    for rule in encryption["ServerSideEncryptionConfiguration"]
                ]
            },
        )
    arn = f"arn:aws:s3:::{name}"
    return Physical(
        name,
        {
            "Arn": arn,
            "DomainName": f"{name}.s3.amazonaws.com",
            "RegionalDomainName": f"{name}.s3.amazonaws.com",
        },
    )


def _cors_rule(rule: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {
        key: rule[key]
        for key in ("AllowedHeaders", "AllowedMethods", "AllowedOrigins", "ExposedHeaders", "ID")
        if key in rule
    }
    if "Id" in rule:
        out["ID"] = rule["Id"]
    if "MaxAge" in rule:
        out["MaxAgeSeconds"] = int(rule["MaxAge"])
    return out


def _lifecycle_rule(rule: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {"Status": rule.get("Status", "Enabled")}
    if "Id" in rule:
        out["ID"] = rule["Id"]
    tags = [{"Key": t["Key"], "Value": t["Value"]} for t in rule.get("TagFilters") or []]
    prefix = rule.get("Prefix")
    if tags and (prefix or len(tags) > 1):
        out["Filter"] = {"And": {"Prefix": prefix or "", "Tags": tags}}
    elif tags:
        out["Filter"] = {"Tag": tags[0]}
    else:
        out["Filter"] = {"Prefix": prefix or ""}
    if "ExpirationInDays" in rule:
        out["Expiration"] = {"Days": int(rule["ExpirationInDays"])}
    if "AbortIncompleteMultipartUpload" in rule:
        days = rule["AbortIncompleteMultipartUpload"]["DaysAfterInitiation"]
        out["AbortIncompleteMultipartUpload"] = {"DaysAfterInitiation": int(days)}
    return out


# ---------------------------------------------------------------------- POST policy
class PolicyRefused(Exception):
    def __init__(self, status: int, code: str, message: str):
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


def check_post(
    bucket: str,
    fields: dict[str, str],
    file_size: int,
    *,
    credentials: dict[str, str],
    now: float | None = None,
) -> None:
    """Raise PolicyRefused unless S3 would accept this POST upload."""
    lower = {key.lower(): value for key, value in fields.items()}
    policy_b64 = lower.get("policy")
    if not policy_b64:
        raise PolicyRefused(403, "AccessDenied", "Bucket POST must contain a policy")
    _check_signature(policy_b64, lower, credentials)
    try:
        policy = json.loads(base64.b64decode(policy_b64))
        expiration = datetime.fromisoformat(policy["expiration"]).timestamp()
    except (ValueError, KeyError, TypeError) as exc:
        raise PolicyRefused(400, "InvalidPolicyDocument", "Invalid Policy: malformed") from exc
    if (now if now is not None else time.time()) > expiration:
        raise PolicyRefused(403, "AccessDenied", "Invalid according to Policy: Policy expired.")
    values = {**lower, "bucket": bucket}
    covered = {"bucket"}
    for condition in policy.get("conditions") or []:
        covered |= _check_condition(condition, values, file_size)
    for name in lower:
        if (
            name not in covered
            and name not in _UNCHECKED_FIELDS
            and not name.startswith("x-ignore-")
        ):
            raise PolicyRefused(
                403,
                "AccessDenied",
                f"Invalid according to Policy: Extra input fields: {name}",
            )


def _check_condition(condition: Any, values: dict[str, str], file_size: int) -> set[str]:
    failed = PolicyRefused(
        403,
        "AccessDenied",
        f"Invalid according to Policy: Policy Condition failed: {json.dumps(condition)}",
    )
    if isinstance(condition, dict):
        ((name, expected),) = condition.items()
        if values.get(name.lower()) != expected:
            raise failed
        return {name.lower()}
    operator = str(condition[0]).lower()
    if operator == "content-length-range":
        low, high = int(condition[1]), int(condition[2])
        if file_size < low:
            raise PolicyRefused(
                400,
                "EntityTooSmall",
                "Your proposed upload is smaller than the minimum allowed size",
            )
        if file_size > high:
            raise PolicyRefused(
                400, "EntityTooLarge", "Your proposed upload exceeds the maximum allowed size"
            )
        return set()
    name = str(condition[1]).lstrip("$").lower()
    value = values.get(name)
    if operator == "eq" and value != condition[2]:
        raise failed
    if operator == "starts-with" and (value is None or not value.startswith(condition[2])):
        raise failed
    return {name}


def _check_signature(policy_b64: str, fields: dict[str, str], credentials: dict[str, str]) -> None:
    credential = fields.get("x-amz-credential", "")
    access_key, _, scope = credential.partition("/")
    secret = credentials.get(access_key)
    if fields.get("x-amz-algorithm") != "AWS4-HMAC-SHA256" or secret is None or not scope:
        raise PolicyRefused(
            403, "AccessDenied", "Only SigV4 uploads signed with the local credentials are served"
        )
    date, region, service, _ = scope.split("/", 3)
    key = f"AWS4{secret}".encode()
    for part in (date, region, service, "aws4_request"):
        key = hmac.new(key, part.encode(), hashlib.sha256).digest()
    expected = hmac.new(key, policy_b64.encode(), hashlib.sha256).hexdigest()
    if not hmac.compare_digest(expected, fields.get("x-amz-signature", "")):
        raise PolicyRefused(
            403,
            "SignatureDoesNotMatch",
            "The request signature we calculated does not match the signature you provided.",
        )


def _error(start_response: Callable[..., Any], refused: PolicyRefused) -> Iterable[bytes]:
    body = (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f"<Error><Code>{refused.code}</Code><Message>{escape(refused.message)}</Message></Error>"
    ).encode()
    start_response(
        f"{refused.status} {'Forbidden' if refused.status == 403 else 'Bad Request'}",
        [("Content-Type", "application/xml"), ("Content-Length", str(len(body)))],
    )
    return [body]


class PostPolicyCheck:
    """WSGI middleware in front of moto: POST uploads to a bucket must satisfy their policy."""

    def __init__(self, app: Callable[..., Any], credentials: dict[str, str] | None = None):
        self.app = app
        self.credentials = credentials or LOCAL_CREDENTIALS

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        content_type = environ.get("CONTENT_TYPE", "")
        path = environ.get("PATH_INFO", "")
        bucket = path.strip("/")
        if (
            environ.get("REQUEST_METHOD") != "POST"
            or not content_type.startswith("multipart/form-data")
            or not bucket
            or "/" in bucket
            or environ.get("QUERY_STRING")
        ):
            return self.app(environ, start_response)
        from werkzeug.formparser import parse_form_data

        length = int(environ.get("CONTENT_LENGTH") or 0)
        body = environ["wsgi.input"].read(length)
        probe = {**environ, "wsgi.input": io.BytesIO(body)}
        _, form, files = parse_form_data(probe)
        upload = files.get("file")
        size = len(upload.read()) if upload is not None else len(form.get("file", "").encode())
        try:
            check_post(bucket, dict(form.items()), size, credentials=self.credentials)
        except PolicyRefused as refused:
            return _error(start_response, refused)
        environ["wsgi.input"] = io.BytesIO(body)
        return self.app(environ, start_response)
