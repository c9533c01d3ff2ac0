"""Write the layers' locks (layers/deps/requirements.lock, layers/webpush/requirements.lock):
every package each dependencies layer ships, pinned with the hashes for Linux arm64 (what
Lambda runs) and x86_64 (what `make bench` loads on an x86 machine), CPython 3.13.

The versions are resolved from each layer's requirements.txt under
requirements/constraints.txt, so a layer holds exactly the versions the tests run with; the
script fails if the two platforms resolve differently or a version differs from the
constraints. `sam build` installs a lock with `pip install --no-deps --require-hashes`, so what
ships is byte-for-byte those files (less the test directories the layer Makefile removes).

- The dependencies layer (every function) leaves some resolved packages out on purpose
  (EXCLUDED, with the reason).
- The Web Push layer (only the notifications functions) is resolved together with the
  dependencies layer and ships what that one does not: pywebpush, its HTTP clients and
  cryptography (which must stay out of every other function: PyJWT imports it when present,
  a cold-start cost). A package with no wheel at all (SOURCE_ONLY: pure Python) is locked by
  its sdist's hash and built by `sam build` (the layer Makefile's --no-binary); to resolve
  the rest, a wheel is built from that sdist for the resolver only.

Run by `make lock`; needs the package index (pip), not AWS.
"""

from __future__ import annotations

import hashlib
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
WEBPUSH_REQUIREMENTS = ROOT / "layers" / "webpush" / "requirements.txt"
WEBPUSH_LOCK = ROOT / "layers" / "webpush" / "requirements.lock"
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
# What the Web Push layer ships after all (Web Push is elliptic-curve cryptography).
WEBPUSH_SHIPS = ("cryptography", "cffi", "pycparser")
# Packages published as an sdist only (pure Python): locked by the sdist's sha256.
SOURCE_ONLY = {"http-ece": "Web Push encryption, RFC 8188; no wheel is published"}


class Layer:
    def __init__(
        self, name: str, requirements: list[Path], lock: Path, excluded: dict[str, str]
    ) -> None:
        self.name = name
        self.requirements = requirements
        self.lock = lock
        self.excluded = excluded
        self.provided: set[str] = set()  # shipped by the dependencies layer


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


def _pip(*arguments: str) -> None:
    subprocess.run(  # noqa: S603 - pip on our own files
        [sys.executable, "-m", "pip", "--disable-pip-version-check", *arguments], check=True
    )


def source_only_packages(work: Path) -> tuple[Path, dict[str, str]]:
    """A directory of wheels built from the SOURCE_ONLY sdists (for the resolver), and each
    one's sdist sha256 (for the lock), at the versions of the constraints."""
    pins = constraints()
    wheels, sdists = work / "wheels", work / "sdists"
    hashes = {}
    for name in SOURCE_ONLY:
        requirement = f"{name}=={pins[name]}"
        _pip(
            "download", "--quiet", "--no-deps", "--no-binary=:all:", "-d", str(sdists), requirement
        )
        _pip("wheel", "--quiet", "--no-deps", "--no-binary=:all:", "-w", str(wheels), requirement)
        (sdist,) = [
            path for path in sdists.iterdir() if _canonical(path.name).startswith(f"{name}-")
        ]
        hashes[name] = hashlib.sha256(sdist.read_bytes()).hexdigest()
    return wheels, hashes


def resolve(
    platform: str, requirements: list[Path], find_links: Path | None = None
) -> dict[str, tuple[str, str]]:
    """name -> (version, sha256 of the file pip picked) for one platform."""
    with tempfile.TemporaryDirectory() as tmp:
        report = Path(tmp) / "report.json"
        command = [
            "install",
            "--quiet",
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
            "-c",
            str(CONSTRAINTS),
        ]
        for path in requirements:
            command += ["-r", str(path)]
        if find_links is not None:
            command += ["--find-links", str(find_links)]
        _pip(*command)
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


def resolve_everywhere(
    requirements: list[Path], find_links: Path | None = None
) -> dict[str, dict[str, tuple[str, str]]]:
    """`resolve` on every platform: the same versions on each, and the constraints' ones."""
    per_platform = {platform: resolve(platform, requirements, find_links) for platform in PLATFORMS}
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
    return per_platform


def write_lock(
    layer: Layer,
    per_platform: dict[str, dict[str, tuple[str, str]]],
    sdist_hashes: dict[str, str],
) -> int:
    first = next(iter(per_platform.values()))
    unknown = set(layer.excluded) - set(first)
    if unknown:
        raise SystemExit(f"{layer.name}: excluded names nothing requires: {sorted(unknown)}")
    lines = [
        f"# The {layer.name} layer, every package pinned with its wheel hashes (linux arm64 and",
        "# x86_64, CPython 3.13); the same versions as requirements/constraints.txt.",
        f"# Generated by `make lock` (tools/lock_layer.py) from {_relative(layer.requirements[-1])};",
        "# installed with `pip install --no-deps --require-hashes`. Do not edit by hand.",
        "#",
        "# boto3, botocore and s3transfer are the Lambda runtime's: none of them ships here.",
    ]
    if layer.provided:
        lines.append("# Shipped by the dependencies layer, which every function also has:")
        lines.append(f"#   {', '.join(sorted(layer.provided))}")
    lines.append("# Resolved but deliberately not shipped:")
    lines += [
        f"#   {name}=={first[name][0]}: {why}" for name, why in sorted(layer.excluded.items())
    ]
    shipped = sorted(set(first) - set(layer.excluded) - layer.provided)
    for name in shipped:
        if name in sdist_hashes:
            lines.append(f"# {name}: the sdist ({SOURCE_ONLY[name]}), built by `sam build`")
            hashes = [sdist_hashes[name]]
        else:
            hashes = sorted({resolved[name][1] for resolved in per_platform.values()})
        lines.append(f"{name}=={first[name][0]} \\")
        lines += [f"    --hash=sha256:{digest} \\" for digest in hashes[:-1]]
        lines.append(f"    --hash=sha256:{hashes[-1]}")
    layer.lock.write_text("\n".join(lines) + "\n")
    print(f"wrote {_relative(layer.lock)}: {len(shipped)} packages")
    return len(shipped)


def _relative(path: Path) -> str:
    return str(path.relative_to(ROOT))


def main() -> int:
    deps = Layer("dependencies", [REQUIREMENTS], LOCK, EXCLUDED)
    deps_resolved = resolve_everywhere(deps.requirements)
    write_lock(deps, deps_resolved, {})
    with tempfile.TemporaryDirectory() as tmp:
        wheels, sdist_hashes = source_only_packages(Path(tmp))
        webpush = Layer(
            "Web Push",
            [REQUIREMENTS, WEBPUSH_REQUIREMENTS],
            WEBPUSH_LOCK,
            {name: why for name, why in EXCLUDED.items() if name not in WEBPUSH_SHIPS},
        )
        resolved = resolve_everywhere(webpush.requirements, wheels)
    shipped_by_deps = set(next(iter(deps_resolved.values()))) - set(EXCLUDED)
    webpush.provided = shipped_by_deps
    write_lock(webpush, resolved, sdist_hashes)
    return 0


if __name__ == "__main__":
    sys.exit(main())
