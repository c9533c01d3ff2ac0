"""Write layers/deps/requirements.lock: every package the dependencies layer ships, pinned with
the wheel hashes for Linux arm64 (what Lambda runs) and x86_64 (what `make bench` loads on an
x86 machine), CPython 3.13.

The versions are resolved from layers/deps/requirements.txt under requirements/constraints.txt,
so the layer holds exactly the versions the tests run with; the script fails if the two
platforms resolve differently or a version differs from the constraints. `sam build` installs
the lock with `pip install --no-deps --require-hashes`, so what ships is byte-for-byte those
wheels (less the test directories the layer Makefile removes).

Some packages the resolver brings in are left out on purpose (EXCLUDED, with the reason). Run
by `make lock`; needs the package index (pip), not AWS.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
REQUIREMENTS = ROOT / "layers" / "deps" / "requirements.txt"
CONSTRAINTS = ROOT / "requirements" / "constraints.txt"
LOCK = ROOT / "layers" / "deps" / "requirements.lock"
PLATFORMS = ("manylinux2014_aarch64", "manylinux2014_x86_64")
PYTHON_VERSION = "3.13"

# Resolved but not shipped. The Lambda python3.13 runtime provides boto3 and botocore with their
# own dependencies; shipping none of them means the runtime's boto3 never meets a different
# botocore from the layer. The others are only needed for features this service does not use;
# tests/unit/test_layer_lock.py runs the handlers and the SDK calls with them made unimportable.
EXCLUDED = {
    "botocore": "the Lambda runtime's, with its boto3 (aws-xray-sdk declares it)",
    "python-dateutil": "only botocore uses it; the runtime's botocore brings its own",
    "six": "only python-dateutil uses it",
    "cryptography": "RSA/EC keys: google-auth service accounts, PyJWT's non-HMAC algorithms "
    "(we use Gemini API keys and HS256); PyJWT imports it only if present",
    "cffi": "only cryptography uses it",
    "pycparser": "only cffi uses it",
    "pyasn1": "google-auth service-account key parsing (API keys here)",
    "pyasn1-modules": "google-auth service-account key parsing (API keys here)",
    "dnspython": "email-validator's deliverability checks (pydantic's EmailStr never runs them)",
}


def _canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def constraints() -> dict[str, str]:
    pins = {}
    for line in CONSTRAINTS.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if "==" in line:
            name, version = line.split("==", 1)
            pins[_canonical(name.split("[")[0])] = version.strip()
    return pins


def resolve(platform: str) -> dict[str, tuple[str, str]]:
    """name -> (version, sha256 of the wheel pip picked) for one platform."""
    with tempfile.TemporaryDirectory() as tmp:
        report = Path(tmp) / "report.json"
        command = [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--quiet",
            "--disable-pip-version-check",
            "--dry-run",
            "--ignore-installed",
            "--report",
            str(report),
            "--only-binary=:all:",
            "--platform",
            platform,
            "--implementation",
            "cp",
            "--python-version",
            PYTHON_VERSION,
            "--target",
            str(Path(tmp) / "target"),
            "-r",
            str(REQUIREMENTS),
            "-c",
            str(CONSTRAINTS),
        ]
        subprocess.run(command, check=True)  # noqa: S603 - pip on our own files
        installs = json.loads(report.read_text())["install"]
    resolved = {}
    for item in installs:
        hashes = item["download_info"].get("archive_info", {}).get("hashes", {})
        if "sha256" not in hashes:
            raise SystemExit(f"no sha256 for {item['metadata']['name']} on {platform}")
        resolved[_canonical(item["metadata"]["name"])] = (
            item["metadata"]["version"],
            hashes["sha256"],
        )
    return resolved


def main() -> int:
    per_platform = {platform: resolve(platform) for platform in PLATFORMS}
    first, *others = per_platform.values()
    for other in others:
        versions = {name: version for name, (version, _) in other.items()}
        if versions != {name: version for name, (version, _) in first.items()}:
            raise SystemExit(f"the platforms resolve differently: {first} vs {other}")
    pins = constraints()
    drift = {
        name: (version, pins.get(name))
        for name, (version, _) in first.items()
        if pins.get(name) != version
    }
    if drift:
        raise SystemExit(
            f"layer versions differ from {CONSTRAINTS.name} (run `make lock` after "
            f"installing the dev environment): {drift}"
        )
    unknown = set(EXCLUDED) - set(first)
    if unknown:
        raise SystemExit(f"EXCLUDED names packages nothing requires any more: {sorted(unknown)}")

    lines = [
        "# The dependencies layer, every package pinned with its wheel hashes (linux arm64 and",
        "# x86_64, CPython 3.13); the same versions as requirements/constraints.txt.",
        "# Generated by `make lock` (tools/lock_layer.py) from layers/deps/requirements.txt;",
        "# installed with `pip install --no-deps --require-hashes`. Do not edit by hand.",
        "#",
        "# boto3, botocore and s3transfer are the Lambda runtime's: none of them ships here.",
        "# Resolved but deliberately not shipped:",
    ]
    lines += [f"#   {name}=={first[name][0]}: {why}" for name, why in sorted(EXCLUDED.items())]
    for name in sorted(first):
        if name in EXCLUDED:
            continue
        hashes = sorted({resolved[name][1] for resolved in per_platform.values()})
        lines.append(f"{name}=={first[name][0]} \\")
        lines += [f"    --hash=sha256:{digest} \\" for digest in hashes[:-1]]
        lines.append(f"    --hash=sha256:{hashes[-1]}")
    LOCK.write_text("\n".join(lines) + "\n")
    print(f"wrote {LOCK.relative_to(ROOT)}: {len(first) - len(EXCLUDED)} packages")
    return 0


if __name__ == "__main__":
    sys.exit(main())
