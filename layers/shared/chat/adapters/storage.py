"""The attachments bucket (S3): presigned uploads and downloads, object checks, copies.

The only module that talks to S3. Clients upload under ``uploads/`` (the presigned POST's
policy pins the key), where the bucket's lifecycle rule deletes every object a day after
its upload. Attaching a file copies its upload to a key under ``rooms/`` that no presigned
POST names and no lifecycle rule matches: what a message carries is that copy, whose bytes
nobody can replace (posting the upload form again only replaces the upload).
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import quote

from botocore.exceptions import ClientError

from chat import aws
from chat.config import settings

_MISSING = ("404", "NoSuchKey", "NotFound")


@dataclass(frozen=True)
class StoredObject:
    size: int
    content_type: str | None


def upload_key(room_id: str, attachment_id: str) -> str:
    """Where the client uploads a declared file (deleted by the lifecycle rule a day later)."""
    return f"uploads/{room_id}/{attachment_id}"


def object_key(room_id: str, message_id: str, attachment_id: str) -> str:
    """The file a message carries: its upload, copied when the message was stored. Only that
    message's sending writes it (its id is new), so nothing can replace its bytes."""
    return f"rooms/{room_id}/{message_id}/{attachment_id}"


def _bucket() -> str:
    name = settings().attachments_bucket
    if not name:  # the functions that use storage check it at cold start (require_settings)
        raise RuntimeError("ATTACHMENTS_BUCKET is not set for this function")
    return name


def presigned_upload(key: str, content_type: str, size: int, expires_in: int) -> dict:
    """A presigned POST (``{"url", "fields"}``) whose policy pins the key, the exact
    Content-Type and the exact size."""
    return aws.s3().generate_presigned_post(
        Bucket=_bucket(),
        Key=key,
        Fields={"Content-Type": content_type},
        Conditions=[{"Content-Type": content_type}, ["content-length-range", size, size]],
        ExpiresIn=expires_in,
    )


def head(key: str) -> StoredObject | None:
    """The object's size and type, or None when nothing was uploaded under ``key``."""
    try:
        response = aws.s3().head_object(Bucket=_bucket(), Key=key)
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") in _MISSING:
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
        if exc.response.get("Error", {}).get("Code") in _MISSING:
            return None
        raise


def copy(source_key: str, key: str) -> bool:
    """Copy an object within the bucket, its Content-Type kept and no tags; False when there
    is nothing under ``source_key``. The copy is of one whole version of the source, even
    while the source is being replaced."""
    bucket = _bucket()
    try:
        aws.s3().copy_object(
            Bucket=bucket,
            Key=key,
            CopySource={"Bucket": bucket, "Key": source_key},
            MetadataDirective="COPY",
            TaggingDirective="REPLACE",
        )
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") in _MISSING:
            return False
        raise
    return True


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
