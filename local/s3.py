"""S3 in the local stack: the template's buckets created in moto, and the checks of S3 that
moto's server does not make.

Buckets: `AWS::S3::Bucket` resources become moto buckets named `<stack>-<logical id>`
(lowercase), with their CORS rules, lifecycle rules, public access block and default
encryption applied (moto stores them; it runs no lifecycle). `AWS::S3::BucketPolicy` is
not applied: moto's server does evaluate bucket policies, and this template's denies every
request without TLS, which is all the local stack serves. It is listed as not emulated.

Requests: moto's server serves any request, signed or not (it checks no signature and no
expiry, and honours `response-content-type` on an unsigned URL). S3, with Block Public
Access on, serves only what is signed. `S3Checks` wraps moto's WSGI app and makes S3's
checks before moto sees an S3 request:

- a POST upload (a form): a valid SigV4 signature of its policy for the credentials the
  local stack hands out, the policy not expired, and every condition (`eq`,
  `starts-with`, `content-length-range` against the `file` field's size) met by the form,
  every form field covered by a condition (`check_post`);
- any other request: a SigV4 signature, in the `Authorization` header or in the query
  string (a presigned URL), that verifies for those credentials over the request as
  received, within its validity (`check_signed`); a CORS preflight (`OPTIONS`) is answered
  from the bucket's CORS rules, as S3 does, and anything unsigned is refused.

A refused request gets S3's XML error (403 AccessDenied / SignatureDoesNotMatch /
RequestTimeTooSkewed, 400 EntityTooSmall / EntityTooLarge).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import io
import json
import time
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote, unquote
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


# ---------------------------------------------------------------------- SigV4
_EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()
MAX_SKEW_SECONDS = 15 * 60  # S3 refuses a header-signed request further from its clock
MAX_PRESIGNED_SECONDS = 7 * 24 * 3600


def _uri_encode(text: str) -> str:
    return quote(text, safe="-_.~")


def _canonical_query(query_string: str, *, without: str | None = None) -> str:
    pairs = []
    for part in query_string.split("&") if query_string else []:
        name, _, value = part.partition("=")
        name, value = unquote(name), unquote(value)
        if name != without:
            pairs.append((_uri_encode(name), _uri_encode(value)))
    return "&".join(f"{name}={value}" for name, value in sorted(pairs))


def _header(environ: dict[str, Any], name: str) -> str | None:
    key = name.upper().replace("-", "_")
    if key in ("CONTENT_TYPE", "CONTENT_LENGTH"):
        return environ.get(key)
    return environ.get(f"HTTP_{key}")


def _signing_key(secret: str, date: str, region: str, service: str) -> bytes:
    key = f"AWS4{secret}".encode()
    for part in (date, region, service, "aws4_request"):
        key = hmac.new(key, part.encode(), hashlib.sha256).digest()
    return key


def _timestamp(value: str) -> float:
    try:
        return datetime.strptime(value, "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC).timestamp()
    except ValueError as exc:
        raise PolicyRefused(403, "AccessDenied", "X-Amz-Date must be in ISO 8601 format") from exc


def _scope(credential: str, credentials: dict[str, str]) -> tuple[str, str, str, str, str]:
    """(secret, date, region, service, scope) of a SigV4 credential of the local stack."""
    access_key, _, scope = credential.partition("/")
    parts = scope.split("/")
    secret = credentials.get(access_key)
    if secret is None or len(parts) != 4 or parts[3] != "aws4_request":
        raise PolicyRefused(
            403, "InvalidAccessKeyId", "The AWS Access Key Id you provided does not exist."
        )
    date, region, service, _ = parts
    return secret, date, region, service, scope


def signing_service(environ: dict[str, Any]) -> str | None:
    """The service a request is SigV4-signed for (header or presigned URL); None unsigned."""
    authorization = _header(environ, "Authorization") or ""
    credential = ""
    if authorization.startswith("AWS4-HMAC-SHA256 "):
        fields = _authorization_fields(authorization)
        credential = fields.get("Credential", "")
    else:
        for part in (environ.get("QUERY_STRING") or "").split("&"):
            name, _, value = part.partition("=")
            if unquote(name).lower() == "x-amz-credential":
                credential = unquote(value)
    parts = credential.split("/")
    return parts[3] if len(parts) == 5 else None


def _authorization_fields(authorization: str) -> dict[str, str]:
    _, _, rest = authorization.partition(" ")
    fields = {}
    for item in rest.split(","):
        name, _, value = item.strip().partition("=")
        fields[name] = value
    return fields


def check_signed(
    environ: dict[str, Any],
    body: bytes,
    *,
    credentials: dict[str, str],
    now: float | None = None,
) -> None:
    """Raise PolicyRefused unless S3 would accept this request's SigV4 signature: in its
    `Authorization` header, or in its query string (a presigned URL: then also unexpired)."""
    now = time.time() if now is None else now
    method = environ.get("REQUEST_METHOD", "GET")
    raw_target = (
        environ.get("REQUEST_URI") or environ.get("RAW_URI") or environ.get("PATH_INFO", "/")
    )
    path, _, query_string = raw_target.partition("?")
    if not query_string:
        query_string = environ.get("QUERY_STRING", "")
    query = {}
    for part in query_string.split("&") if query_string else []:
        name, _, value = part.partition("=")
        query[unquote(name)] = unquote(value)
    authorization = _header(environ, "Authorization")
    if authorization is not None:
        if not authorization.startswith("AWS4-HMAC-SHA256 "):
            raise PolicyRefused(
                400, "InvalidArgument", "Only AWS4-HMAC-SHA256 signatures are served locally"
            )
        fields = _authorization_fields(authorization)
        credential = fields.get("Credential", "")
        signed_headers = fields.get("SignedHeaders", "")
        signature = fields.get("Signature", "")
        amz_date = _header(environ, "X-Amz-Date") or ""
        if abs(now - _timestamp(amz_date)) > MAX_SKEW_SECONDS:
            raise PolicyRefused(
                403,
                "RequestTimeTooSkewed",
                "The difference between the request time and the current time is too large.",
            )
        payload = _header(environ, "X-Amz-Content-SHA256")
        if payload is None:
            raise PolicyRefused(
                400, "InvalidRequest", "Missing required header x-amz-content-sha256"
            )
        if len(payload) == 64 and payload != hashlib.sha256(body).hexdigest():
            raise PolicyRefused(
                400,
                "XAmzContentSHA256Mismatch",
                "The provided 'x-amz-content-sha256' header does not match what was computed.",
            )
        canonical_query = _canonical_query(query_string)
    elif "X-Amz-Signature" in query:
        if query.get("X-Amz-Algorithm") != "AWS4-HMAC-SHA256":
            raise PolicyRefused(
                400,
                "AuthorizationQueryParametersError",
                "X-Amz-Algorithm only supports AWS4-HMAC-SHA256",
            )
        credential = query.get("X-Amz-Credential", "")
        signed_headers = query.get("X-Amz-SignedHeaders", "")
        signature = query["X-Amz-Signature"]
        amz_date = query.get("X-Amz-Date", "")
        try:
            expires = int(query.get("X-Amz-Expires", ""))
        except ValueError:
            raise PolicyRefused(
                400, "AuthorizationQueryParametersError", "X-Amz-Expires must be a number"
            ) from None
        if not 0 < expires <= MAX_PRESIGNED_SECONDS:
            raise PolicyRefused(
                400, "AuthorizationQueryParametersError", "X-Amz-Expires must be 1 to 604800"
            )
        signed_at = _timestamp(amz_date)
        if now > signed_at + expires:
            raise PolicyRefused(403, "AccessDenied", "Request has expired")
        if signed_at - now > MAX_SKEW_SECONDS:
            raise PolicyRefused(403, "AccessDenied", "Request is not yet valid")
        payload = query.get("X-Amz-Content-Sha256", "UNSIGNED-PAYLOAD")
        canonical_query = _canonical_query(query_string, without="X-Amz-Signature")
    else:
        raise PolicyRefused(403, "AccessDenied", "Access Denied")
    secret, date, region, service, scope = _scope(credential, credentials)
    if service != "s3" or not amz_date.startswith(date):
        raise PolicyRefused(403, "SignatureDoesNotMatch", "The credential scope is not valid here.")
    names = [name for name in signed_headers.split(";") if name]
    if "host" not in names:
        raise PolicyRefused(403, "AccessDenied", "The host header must be signed")
    canonical_headers = ""
    for name in names:
        value = _header(environ, name)
        if value is None:
            raise PolicyRefused(
                403, "SignatureDoesNotMatch", f"The signed header {name} is missing."
            )
        canonical_headers += f"{name}:{' '.join(value.split())}\n"
    canonical_request = "\n".join(
        (method, path or "/", canonical_query, canonical_headers, ";".join(names), payload)
    )
    string_to_sign = "\n".join(
        (
            "AWS4-HMAC-SHA256",
            amz_date,
            scope,
            hashlib.sha256(canonical_request.encode()).hexdigest(),
        )
    )
    expected = hmac.new(
        _signing_key(secret, date, region, service), string_to_sign.encode(), hashlib.sha256
    ).hexdigest()
    if not hmac.compare_digest(expected, signature):
        raise PolicyRefused(
            403,
            "SignatureDoesNotMatch",
            "The request signature we calculated does not match the signature you provided.",
        )


# ---------------------------------------------------------------------- the middleware
_REASONS = {400: "Bad Request", 403: "Forbidden"}


def _error(start_response: Callable[..., Any], refused: PolicyRefused) -> Iterable[bytes]:
    body = (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f"<Error><Code>{refused.code}</Code><Message>{escape(refused.message)}</Message></Error>"
    ).encode()
    start_response(
        f"{refused.status} {_REASONS.get(refused.status, 'Error')}",
        [
            ("Content-Type", "application/xml"),
            ("Content-Length", str(len(body))),
            ("X-Content-Type-Options", "nosniff"),
        ],
    )
    return [body]


def _read_body(environ: dict[str, Any]) -> bytes:
    """The request's body, read once and put back for moto."""
    try:
        length = int(environ.get("CONTENT_LENGTH") or -1)
    except ValueError:
        length = -1
    if length >= 0:
        body = environ["wsgi.input"].read(length)
    elif environ.get("wsgi.input_terminated"):  # chunked: read to its end
        body = environ["wsgi.input"].read()
    else:
        return b""
    environ["wsgi.input"] = io.BytesIO(body)
    return body


def is_post_upload(environ: dict[str, Any]) -> bool:
    """A browser-style POST upload: a form posted to a bucket's URL."""
    path = environ.get("PATH_INFO", "")
    bucket = path.strip("/")
    return (
        environ.get("REQUEST_METHOD") == "POST"
        and environ.get("CONTENT_TYPE", "").startswith("multipart/form-data")
        and bool(bucket)
        and "/" not in bucket
        and not environ.get("QUERY_STRING")
        and _header(environ, "Authorization") is None
    )


class S3Checks:
    """WSGI middleware in front of moto: S3 requests must be signed as S3 requires (see the
    module's doc). Requests signed for another service pass through untouched."""

    def __init__(self, app: Callable[..., Any], credentials: dict[str, str] | None = None):
        self.app = app
        self.credentials = credentials or LOCAL_CREDENTIALS

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        service = signing_service(environ)
        if service is not None and service != "s3":
            return self.app(environ, start_response)
        try:
            if environ.get("REQUEST_METHOD") == "OPTIONS" and service is None:
                pass  # a CORS preflight: moto answers it from the bucket's CORS rules
            elif is_post_upload(environ):
                self._check_upload(environ)
            else:
                check_signed(environ, _read_body(environ), credentials=self.credentials)
        except PolicyRefused as refused:
            return _error(start_response, refused)
        return self.app(environ, start_response)

    def _check_upload(self, environ: dict[str, Any]) -> None:
        from werkzeug.formparser import parse_form_data

        body = _read_body(environ)
        probe = {**environ, "wsgi.input": io.BytesIO(body)}
        _, form, files = parse_form_data(probe)
        upload = files.get("file")
        size = len(upload.read()) if upload is not None else len(form.get("file", "").encode())
        bucket = environ.get("PATH_INFO", "").strip("/")
        check_post(bucket, dict(form.items()), size, credentials=self.credentials)
        environ["wsgi.input"] = io.BytesIO(body)
