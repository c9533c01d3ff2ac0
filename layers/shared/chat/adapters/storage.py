"""The attachments bucket (S3): presigned uploads and downloads, object checks, tags.

The only module that talks to S3. Objects are uploaded tagged ``state=pending`` (the
presigned POST's policy pins that tag, so an upload cannot leave it out); the bucket's
lifecycle rule deletes pending objects a day after upload. Attaching an object to a
message retags it ``state=attached``, which no lifecycle rule matches.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import quote

from botocore.exceptions import ClientError

from chat import aws
from chat.config import settings

STATE_TAG = "state"
PENDING = "pending"
ATTACHED = "attached"


def _tagging_xml(value: str) -> str:
    return (
        f"<Tagging><TagSet><Tag><Key>{STATE_TAG}</Key><Value>{value}</Value></Tag>"
        "</TagSet></Tagging>"
    )


PENDING_TAGGING = _tagging_xml(PENDING)


@dataclass(frozen=True)
class StoredObject:
    size: int
    content_type: str | None


def object_key(room_id: str, attachment_id: str) -> str:
    """Where an attachment's file is kept in the bucket."""
    return f"rooms/{room_id}/{attachment_id}"


def _bucket() -> str:
    name = settings().attachments_bucket
    if not name:  # the functions that use storage check it at cold start (require_settings)
        raise RuntimeError("ATTACHMENTS_BUCKET is not set for this function")
    return name


def presigned_upload(key: str, content_type: str, size: int, expires_in: int) -> dict:
    """A presigned POST (``{"url", "fields"}``) whose policy pins the key, the exact
    Content-Type, the exact size and the pending tag."""
    return aws.s3().generate_presigned_post(
        Bucket=_bucket(),
        Key=key,
        Fields={"Content-Type": content_type, "tagging": PENDING_TAGGING},
        Conditions=[
            {"Content-Type": content_type},
            ["content-length-range", size, size],
            {"tagging": PENDING_TAGGING},
        ],
        ExpiresIn=expires_in,
    )


def head(key: str) -> StoredObject | None:
    """The object's size and type, or None when nothing was uploaded under ``key``."""
    try:
        response = aws.s3().head_object(Bucket=_bucket(), Key=key)
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
            return None
        raise
    return StoredObject(size=response["ContentLength"], content_type=response.get("ContentType"))


def first_bytes(key: str, count: int) -> bytes:
    """The first ``count`` bytes of an object (one ranged GET)."""
    response = aws.s3().get_object(Bucket=_bucket(), Key=key, Range=f"bytes=0-{count - 1}")
    return response["Body"].read()


def read(key: str) -> bytes | None:
    """An object's bytes, or None when it is gone."""
    try:
        return aws.s3().get_object(Bucket=_bucket(), Key=key)["Body"].read()
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") in ("404", "NoSuchKey"):
            return None
        raise


def mark_attached(key: str) -> None:
    """Retag an object so the lifecycle rule for never-attached uploads skips it."""
    aws.s3().put_object_tagging(
        Bucket=_bucket(),
        Key=key,
        Tagging={"TagSet": [{"Key": STATE_TAG, "Value": ATTACHED}]},
    )


def delete(keys: list[str]) -> None:
    """Delete objects (missing ones are not an error)."""
    s3 = aws.s3()
    for start in range(0, len(keys), 1000):  # DeleteObjects takes at most 1000 keys
        batch = keys[start : start + 1000]
        response = s3.delete_objects(
            Bucket=_bucket(), Delete={"Objects": [{"Key": key} for key in batch], "Quiet": True}
        )
        if response.get("Errors"):
            codes = sorted({error.get("Code", "?") for error in response["Errors"]})
            raise RuntimeError(f"could not delete attachments ({', '.join(codes)})")


def presigned_download(key: str, filename: str, content_type: str, expires_in: int) -> str:
    """A presigned GET that serves the object under its filename and declared type."""
    ascii_name = filename.encode("ascii", "replace").decode().replace('"', "_").replace("?", "_")
    disposition = f"inline; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(filename, safe='')}"
    return aws.s3().generate_presigned_url(
        "get_object",
        Params={
            "Bucket": _bucket(),
            "Key": key,
            "ResponseContentDisposition": disposition,
            "ResponseContentType": content_type,
        },
        ExpiresIn=expires_in,
    )
