"""`make publish-web`: upload web/dist to a deployed stack's web client site.

Reads the stack's outputs (deployed with WebClient=true), uploads every file of web/dist
plus a config.json holding the stack's RestApiUrl and WebSocketUrl, removes files the
build no longer has, and invalidates CloudFront's cache. Needs AWS credentials.

    .venv/bin/python web/publish.py [--stack NAME] [--region REGION]
"""

from __future__ import annotations

import argparse
import json
import mimetypes
import re
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
DIST = ROOT / "web" / "dist"
REQUIRED_OUTPUTS = ("WebClientBucketName", "WebClientDistributionId", "RestApiUrl", "WebSocketUrl")


class PublishError(Exception):
    pass


def samconfig_default(key: str) -> str | None:
    """A value from samconfig.toml (stack_name, region), if set there."""
    path = ROOT / "samconfig.toml"
    if not path.exists():
        return None
    match = re.search(rf'^{key}\s*=\s*"([^"]+)"', path.read_text(), re.MULTILINE)
    return match.group(1) if match else None


def stack_facts(cloudformation: Any, stack: str) -> tuple[dict[str, str], dict[str, str]]:
    """The stack's outputs and parameters."""
    described = cloudformation.describe_stacks(StackName=stack)["Stacks"][0]
    outputs = {o["OutputKey"]: o["OutputValue"] for o in described.get("Outputs", [])}
    parameters = {
        p["ParameterKey"]: p.get("ParameterValue", "") for p in described.get("Parameters", [])
    }
    missing = [name for name in REQUIRED_OUTPUTS if name not in outputs]
    if missing:
        raise PublishError(
            f"stack {stack!r} has no {', '.join(missing)}: deploy it with WebClient=true "
            "(sam deploy --parameter-overrides WebClient=true)"
        )
    return outputs, parameters


def site_config(outputs: dict[str, str]) -> bytes:
    return json.dumps(
        {"rest_url": outputs["RestApiUrl"], "ws_url": outputs["WebSocketUrl"]}
    ).encode()


def files_of(dist: Path) -> dict[str, Path]:
    if not (dist / "index.html").exists():
        raise PublishError(f"{dist} has no build: run `make web` first")
    return {
        path.relative_to(dist).as_posix(): path
        for path in sorted(dist.rglob("*"))
        if path.is_file() and path.name != "config.json"
    }


def content_type(name: str) -> str:
    if name.endswith(".js"):
        return "text/javascript; charset=utf-8"
    guessed = mimetypes.guess_type(name)[0] or "application/octet-stream"
    return f"{guessed}; charset=utf-8" if guessed.startswith("text/") else guessed


def publish(s3: Any, cloudfront: Any, outputs: dict[str, str], dist: Path = DIST) -> list[str]:
    """Uploads the build and config.json, deletes stale files, invalidates the cache."""
    bucket = outputs["WebClientBucketName"]
    files = files_of(dist)
    # File names are not content-hashed: browsers revalidate everything (cheap 304s).
    cache = "no-cache"
    for name, path in files.items():
        s3.put_object(
            Bucket=bucket,
            Key=name,
            Body=path.read_bytes(),
            ContentType=content_type(name),
            CacheControl=cache,
        )
    s3.put_object(
        Bucket=bucket,
        Key="config.json",
        Body=site_config(outputs),
        ContentType="application/json",
        CacheControl=cache,
    )
    uploaded = [*files, "config.json"]
    stale = []
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket):
        stale += [item["Key"] for item in page.get("Contents", []) if item["Key"] not in uploaded]
    for start in range(0, len(stale), 1000):
        s3.delete_objects(
            Bucket=bucket,
            Delete={"Objects": [{"Key": key} for key in stale[start : start + 1000]]},
        )
    cloudfront.create_invalidation(
        DistributionId=outputs["WebClientDistributionId"],
        InvalidationBatch={
            "Paths": {"Quantity": 1, "Items": ["/*"]},
            "CallerReference": f"publish-web-{time.time_ns()}",
        },
    )
    return uploaded


def cors_warning(outputs: dict[str, str], parameters: dict[str, str]) -> str | None:
    allowed = parameters.get("CorsAllowOrigin", "*")
    site = outputs.get("WebClientUrl", "")
    if allowed in ("*", site):
        return None
    return (
        f"warning: CorsAllowOrigin is {allowed!r}: the REST API refuses the site {site}. "
        f"Redeploy with CorsAllowOrigin={site} (or *)."
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--stack", default=samconfig_default("stack_name") or "collab-chat")
    parser.add_argument("--region", default=samconfig_default("region"))
    parser.add_argument("--dist", type=Path, default=DIST)
    args = parser.parse_args(argv)
    import boto3

    session = boto3.session.Session(region_name=args.region)
    try:
        outputs, parameters = stack_facts(session.client("cloudformation"), args.stack)
        uploaded = publish(session.client("s3"), session.client("cloudfront"), outputs, args.dist)
    except PublishError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(f"published {len(uploaded)} files to s3://{outputs['WebClientBucketName']}")
    if warning := cors_warning(outputs, parameters):
        print(warning, file=sys.stderr)
    print(f"open {outputs.get('WebClientUrl', '(see the WebClientUrl output)')}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
