"""Cold-start figures: how long each function's handler takes to import in a fresh CPython 3.13
process, from the artifacts as `sam build` ships them, next to a bare `import boto3`.

1. Reuses `.aws-sam/build` (or runs `sam build` when it is missing, or with --rebuild) and
   prints each artifact's size, its `.py` count and how many ship without 3.13 bytecode.
2. The artifacts are arm64. On another machine their compiled extensions (pydantic_core,
   bcrypt...) cannot load, so the dependencies layer is built again for the host from the same
   lock with the same Makefile, only PLATFORM differs (`.aws-sam/bench-x86/`); the shared
   layer and the functions are pure Python and used as built. The output says which it measured.
3. The Lambda runtime's boto3 (not in the layer) is emulated by the pinned boto3/botocore of
   requirements/constraints.txt installed with bytecode into `.aws-sam/bench-runtime/`, on
   sys.path after the layers as on Lambda.
4. Each run starts `python3.13 -I -S -B` with only the function's directory, the layers and the
   runtime directory on sys.path and the function's environment from template.yaml (tracing on,
   as on Lambda), and times `import app` inside the process (CPU time). Baselines in the same
   rounds: `import boto3`, and `import boto3; from google import genai` for the worker. The
   ratio is the fastest run against the fastest baseline (the work is the same each run; a
   busy machine only adds to it); the median, and the per-round ratios, are printed too.
   "source only" is the same import from copies of the artifacts without their __pycache__
   (what a build without the bytecode step ships), fewer runs.
5. `-X importtime` once per handler: the packages where the import time goes (self time summed
   per top-level package) and a few candidate cuts (what their modules cost inside the import).

Targets: 0 modules without bytecode; REST/WebSocket handlers <= 2.0x `import boto3`; worker
<= 1.3x `import boto3; from google import genai`; dependencies layer <= 40 MB unzipped.

Run: .venv/bin/python bench/cold_start.py [--runs 7] [--rebuild]
"""

from __future__ import annotations

import argparse
import hashlib
import importlib.util
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "layers" / "shared")]

from local.template import load_template, resources_of_type  # noqa: E402

BUILD = ROOT / ".aws-sam" / "build"
BENCH_X86 = ROOT / ".aws-sam" / "bench-x86"
RUNTIME = ROOT / ".aws-sam" / "bench-runtime"
LOCK = ROOT / "layers" / "deps" / "requirements.lock"
CONSTRAINTS = ROOT / "requirements" / "constraints.txt"
LAYER_LIMIT = 40_000_000
WORKER = "BotWorkerFunction"
# What the python3.13 runtime brings with its boto3 (pinned here as the tests run them).
RUNTIME_PACKAGES = [
    "boto3",
    "botocore",
    "s3transfer",
    "jmespath",
    "python-dateutil",
    "six",
    "urllib3",
]
# Candidate cuts: module-name prefixes whose import cost is shown inside each handler.
CUTS = {
    "X-Ray SDK (Tracer)": ("aws_xray_sdk", "wrapt"),
    "Powertools OpenAPI validation": ("aws_lambda_powertools.event_handler.openapi",),
    "pydantic EmailStr (email_validator)": ("email_validator",),
    "boto3 + botocore": ("boto3", "botocore", "s3transfer", "jmespath", "dateutil", "urllib3"),
    "google-genai SDK": ("google", "httpx2", "httpcore2", "anyio", "websockets", "tenacity"),
}

_spec = importlib.util.spec_from_file_location(
    "compile_bytecode", ROOT / "tools" / "compile_bytecode.py"
)
assert _spec and _spec.loader
compile_bytecode = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(compile_bytecode)

CHILD = r"""
import json, sys, time
sys.path[:0] = json.loads(sys.argv[1])
started, cpu_started = time.perf_counter(), time.process_time()
exec(sys.argv[2])
elapsed = (time.perf_counter() - started) * 1000
cpu = (time.process_time() - cpu_started) * 1000
origins = {name: getattr(sys.modules.get(name), "__file__", None) for name in ("boto3", "botocore")}
print(json.dumps({"ms": elapsed, "cpu_ms": cpu, "modules": len(sys.modules), "origins": origins}))
"""


def _du(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file() and not p.is_symlink())


def _du_sb(path: Path) -> int:
    """Bytes as `du -sb` counts them (files and directories)."""
    return sum(p.lstat().st_size for p in [path, *path.rglob("*")])


def _pins() -> dict[str, str]:
    pins = {}
    for line in CONSTRAINTS.read_text().splitlines():
        if "==" in line and not line.startswith("#"):
            name, version = line.strip().split("==", 1)
            pins[name.lower().replace("_", "-")] = version
    return pins


def _digest(*paths: Path, extra: str = "") -> str:
    digest = hashlib.sha256(extra.encode())
    for path in paths:
        digest.update(path.read_bytes())
    return digest.hexdigest()


def _fresh(directory: Path, stamp: str) -> bool:
    marker = directory / ".bench-stamp"
    return marker.exists() and marker.read_text() == stamp


def ensure_build(rebuild: bool) -> None:
    if BUILD.exists() and not rebuild:
        print(f"artifacts: reusing {BUILD.relative_to(ROOT)} (--rebuild to run `sam build`)")
        return
    sam = ROOT / ".venv" / "bin" / "sam"
    command = [str(sam) if sam.exists() else "sam", "build", "--template", "template.yaml"]
    print("artifacts: running", " ".join(command), flush=True)
    subprocess.run(command, cwd=ROOT, check=True)  # noqa: S603 - sam on our template


def ensure_runtime(python313: str) -> None:
    pins = _pins()
    requirements = [f"{name}=={pins[name]}" for name in RUNTIME_PACKAGES]
    stamp = _digest(extra=" ".join(requirements))
    if _fresh(RUNTIME, stamp):
        return
    shutil.rmtree(RUNTIME, ignore_errors=True)
    print(f"emulated runtime boto3: installing {', '.join(requirements)}", flush=True)
    subprocess.run(  # noqa: S603 - pip with pinned requirements
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--quiet",
            "--disable-pip-version-check",
            "--no-deps",
            "--no-compile",
            "--target",
            str(RUNTIME),
            *requirements,
        ],
        check=True,
    )
    compile_bytecode.compile_tree(str(RUNTIME), "/var/lang/lib/python3.13/site-packages", python313)
    (RUNTIME / ".bench-stamp").write_text(stamp)


def ensure_host_layer(layer: str = "DependenciesLayer", source: str = "deps") -> tuple[Path, str]:
    """A pip-built layer (the dependencies layer, or the Web Push layer) the host can load,
    and a sentence saying what it is."""
    if platform.machine() in ("aarch64", "arm64"):
        return BUILD / layer, "the arm64 artifacts of .aws-sam/build as shipped"
    target = BENCH_X86 / layer
    stamp = _digest(
        ROOT / "layers" / source / "requirements.lock",
        ROOT / "layers" / source / "Makefile",
        ROOT / "tools" / "compile_bytecode.py",
    )
    if not _fresh(target, stamp):
        shutil.rmtree(target, ignore_errors=True)
        print(f"host layer: building {layer} for x86_64 (same lock and Makefile)")
        make = shutil.which("make") or "/usr/bin/make"
        subprocess.run(  # noqa: S603 - make on our Makefile
            [
                make,
                "--no-print-directory",
                "-C",
                str(ROOT / "layers" / source),
                f"build-{layer}",
                f"ARTIFACTS_DIR={target}",
                "PLATFORM=manylinux2014_x86_64",
            ],
            check=True,
            stdout=subprocess.DEVNULL,
        )
        (target / ".bench-stamp").write_text(stamp)
    return target, (
        f"an x86_64 build of the same layout on this {platform.machine()} host: the "
        "dependencies layer from the same lock and Makefile with PLATFORM=manylinux2014_x86_64 "
        f"({target.relative_to(ROOT)}), the shared layer and functions from .aws-sam/build"
    )


def _carries(logical_id: str, layer: str) -> bool:
    """Whether a function has a layer of its own besides the Globals' two."""
    own = functions()[logical_id]["Properties"].get("Layers") or []
    return {"Ref": layer} in own


def functions() -> dict[str, dict[str, Any]]:
    return resources_of_type(load_template(), "AWS::Serverless::Function")


def environment(logical_id: str, function_dir: Path) -> dict[str, str]:
    """The function's variables from template.yaml with placeholder values, plus Lambda's own."""
    template = load_template()
    parameters = template.get("Parameters", {})
    variables = dict(template["Globals"]["Function"]["Environment"]["Variables"])
    properties = template["Resources"][logical_id]["Properties"]
    variables.update(properties.get("Environment", {}).get("Variables", {}))
    env = {}
    for name, value in variables.items():
        if isinstance(value, dict) and "Ref" in value:
            ref = value["Ref"]
            value = parameters.get(ref, {}).get("Default", ref)
        elif isinstance(value, dict):
            value = "https://placeholder.execute-api.us-east-1.amazonaws.com/v1"
        env[name] = str(value)
    env.update(
        {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "LANG": "en_US.UTF-8",
            "TZ": ":UTC",
            "AWS_REGION": "us-east-1",
            "AWS_DEFAULT_REGION": "us-east-1",
            "AWS_ACCESS_KEY_ID": "bench",
            "AWS_SECRET_ACCESS_KEY": "bench",
            "AWS_SESSION_TOKEN": "bench",
            "AWS_EXECUTION_ENV": "AWS_Lambda_python3.13",
            "AWS_LAMBDA_FUNCTION_NAME": logical_id,
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "512",
            "LAMBDA_TASK_ROOT": str(function_dir),
            "LAMBDA_RUNTIME_DIR": str(RUNTIME),
            "_HANDLER": "app.lambda_handler",
        }
    )
    return env


def run(python: str, paths: list[Path], statement: str, env: dict[str, str], *flags: str) -> dict:
    # -B: Lambda's code directories are read-only; an import here must not write the bytecode
    # a build failed to ship (it would hide the miss from the next count and every later run).
    result = subprocess.run(  # noqa: S603 - the 3.13 interpreter on our own code
        [
            python,
            "-I",
            "-S",
            "-B",
            *flags,
            "-c",
            CHILD,
            json.dumps([str(p) for p in paths]),
            statement,
        ],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        raise SystemExit(f"`{statement}` failed:\n{result.stderr[-3000:]}")
    data = json.loads(result.stdout.strip().splitlines()[-1])
    data["stderr"] = result.stderr
    return data


def strip_bytecode(source: Path, destination: Path) -> Path:
    shutil.copytree(source, destination, ignore=shutil.ignore_patterns("__pycache__"))
    return destination


def importtime_groups(stderr: str) -> tuple[dict[str, float], dict[str, float]]:
    """(ms of self time per top-level package, ms per CUTS group) from -X importtime."""
    packages: dict[str, float] = {}
    cuts: dict[str, float] = dict.fromkeys(CUTS, 0.0)
    for line in stderr.splitlines():
        if not line.startswith("import time:") or "self [us]" in line:
            continue
        self_us, _cumulative, module = (part.strip() for part in line.split(":", 1)[1].split("|"))
        ms = int(self_us) / 1000
        top = module.split(".")[0]
        packages[top] = packages.get(top, 0.0) + ms
        for group, prefixes in CUTS.items():
            if any(module == p or module.startswith(p + ".") for p in prefixes):
                cuts[group] += ms
    return packages, cuts


def main() -> int:
    parser = argparse.ArgumentParser(description="Cold-start import figures")
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--source-runs", type=int, default=3)
    parser.add_argument("--rebuild", action="store_true", help="run `sam build` first")
    args = parser.parse_args()

    python = compile_bytecode.find_python313()
    if python is None:
        print("cold_start: no CPython 3.13 found (PATH, pyenv, $PYTHON313); skipped")
        return 0
    ensure_build(args.rebuild)

    # -------------------------------------------------------------- artifacts as shipped
    print(f"\n{'artifact':<22}{'du -sb':>12}{'.py':>7}{'.py without 3.13 bytecode':>27}")
    total_missing = 0
    for artifact in sorted(p for p in BUILD.iterdir() if p.is_dir()):
        py = sum(1 for _ in artifact.rglob("*.py"))
        missing = len(compile_bytecode.missing_bytecode(str(artifact)))
        total_missing += missing
        print(f"{artifact.name:<22}{_du_sb(artifact):>12,}{py:>7}{missing:>27}")
    layer = _du_sb(BUILD / "DependenciesLayer")
    verdict = "ok" if layer <= LAYER_LIMIT else "over"
    print(
        f"dependencies layer: {layer / 1e6:.2f} MB unzipped by `du -sb` ({layer / 2**20:.1f} MiB; "
        f"files alone {_du(BUILD / 'DependenciesLayer') / 1e6:.2f} MB); target <= 40 MB: {verdict}"
    )
    print(f"shipped modules without bytecode: {total_missing} (target 0)")

    # -------------------------------------------------------------- what we can load here
    ensure_runtime(python)
    deps, what = ensure_host_layer()
    version = subprocess.run(  # noqa: S603
        [python, "-c", "import sys; print(sys.version.split()[0])"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    print(f"\nmeasured: {what}")
    print(f"interpreter: {python} ({version}); runtime boto3: {RUNTIME.relative_to(ROOT)}")

    shared = BUILD / "SharedLayer" / "python"
    layers = [shared, deps / "python", RUNTIME]
    specs = {
        logical_id: (BUILD / logical_id, environment(logical_id, BUILD / logical_id))
        for logical_id in functions()
    }
    base_env = environment(next(iter(specs)), BUILD / next(iter(specs)))
    cases: dict[str, tuple[list[Path], str, dict[str, str]]] = {
        "import boto3": (layers, "import boto3", base_env),
        "import boto3; from google import genai": (
            layers,
            "import boto3\nfrom google import genai",
            base_env,
        ),
    }
    web_push = ensure_host_layer("WebPushLayer", "webpush")[0] / "python"
    for logical_id, (directory, env) in specs.items():
        own = [web_push] if _carries(logical_id, "WebPushLayer") else []
        cases[logical_id] = ([directory, *layers[:2], *own, RUNTIME], "import app", env)

    # Interleaved rounds, so a busy moment on a shared machine hits every case alike.
    wall: dict[str, list[float]] = {name: [] for name in cases}
    cpu: dict[str, list[float]] = {name: [] for name in cases}
    origins: dict[str, dict] = {}
    modules: dict[str, int] = {}
    # Each ratio is taken within a round (the handler against the baseline run just before
    # it), then the median over rounds: a load swing between rounds moves both alike.
    ratios: dict[str, list[float]] = {name: [] for name in cases}
    for _ in range(args.runs):
        for name, (paths, statement, env) in cases.items():
            data = run(python, paths, statement, env)
            wall[name].append(data["ms"])
            cpu[name].append(data["cpu_ms"])
            origins[name], modules[name] = data["origins"], data["modules"]
        for name in cases:
            base = "import boto3; from google import genai" if name == WORKER else "import boto3"
            ratios[name].append(cpu[name][-1] / cpu[base][-1])

    # Source only: the same trees without __pycache__ (the runtime's boto3 keeps its own).
    source_only: dict[str, float] = {}
    with tempfile.TemporaryDirectory() as tmp:
        bare = [
            strip_bytecode(shared, Path(tmp) / "shared"),
            strip_bytecode(deps / "python", Path(tmp) / "deps"),
        ]
        bare_web_push = strip_bytecode(web_push, Path(tmp) / "webpush")
        for logical_id, (directory, env) in specs.items():
            function_copy = strip_bytecode(directory, Path(tmp) / logical_id)
            own = [bare_web_push] if _carries(logical_id, "WebPushLayer") else []
            runs = [
                run(python, [function_copy, *bare, *own, RUNTIME], "import app", env)["cpu_ms"]
                for _ in range(args.source_runs)
            ]
            source_only[logical_id] = statistics.median(runs)

    med_cpu = {name: statistics.median(values) for name, values in cpu.items()}
    med_wall = {name: statistics.median(values) for name, values in wall.items()}
    print(
        f"\nimport time inside a fresh process, {args.runs} runs: median CPU time (steadier than wall "
        "time on a shared machine), median wall time, fastest CPU time"
    )
    for name in ("import boto3", "import boto3; from google import genai"):
        print(
            f"  {name:<40}{med_cpu[name]:7.0f} ms CPU {med_wall[name]:7.0f} ms wall"
            f"{min(cpu[name]):7.0f} ms fastest"
        )
    print(
        f"\n{'function':<20}{'CPU':>8}{'fastest':>9}{'ratio':>7}  {'rounds':<12}{'target':<22}"
        f"{'source only':>12}{'modules':>9}  botocore from"
    )
    for logical_id in specs:
        base = "import boto3; from google import genai" if logical_id == WORKER else "import boto3"
        # The fastest run of each against the fastest baseline: the work itself is the same
        # every run and a busy machine only adds to it (as timeit reads its repeats).
        ratio = min(cpu[logical_id]) / min(cpu[base])
        rounds = f"{statistics.median(ratios[logical_id]):.2f} ({min(ratios[logical_id]):.2f}-"
        rounds += f"{max(ratios[logical_id]):.2f})"
        limit = 1.3 if logical_id == WORKER else 2.0
        target = f"<= {limit}x {'boto3+genai' if logical_id == WORKER else 'boto3'}: "
        target += "ok" if ratio <= limit else "over"
        botocore = origins[logical_id].get("botocore") or "not imported"
        where = "runtime" if botocore.startswith(str(RUNTIME)) else botocore
        print(
            f"{logical_id:<20}{med_cpu[logical_id]:>5.0f} ms{min(cpu[logical_id]):>6.0f} ms"
            f"{ratio:>6.2f}x  {rounds:<17}{target:<22}{source_only[logical_id]:>9.0f} ms"
            f"{modules[logical_id]:>9}  {where}"
        )
    print(
        f"(CPU: median of {args.runs}; ratio: fastest run against the fastest baseline, "
        "`import boto3`, for the worker `import boto3; from google import genai`; rounds: "
        "median and range of the ratio to the baseline run in the same round)\n"
        "(source only: CPU time of the same import from copies without __pycache__)"
    )

    # -------------------------------------------------------------- where the time goes
    print("\nwhere the import time goes (-X importtime, one run; self time per package, ms):")
    for logical_id, (_, env) in specs.items():
        paths = cases[logical_id][0]
        data = run(python, paths, "import app", env, "-X", "importtime")
        packages, cuts = importtime_groups(data["stderr"])
        top = sorted(packages.items(), key=lambda item: -item[1])[:8]
        total = sum(packages.values())
        print(
            f"  {logical_id} (total {total:.0f} ms): " + ", ".join(f"{k} {v:.0f}" for k, v in top)
        )
        shown = [f"{group} {ms:.0f}" for group, ms in cuts.items() if ms >= 1]
        print("      of which: " + "; ".join(shown))
    return 0


if __name__ == "__main__":
    sys.exit(main())
