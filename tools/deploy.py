"""Deploy an environment of samconfig.toml, then smoke-test it:

    make deploy ENV=dev|staging|prod

1. `sam build` (Docker-free).
2. `sam deploy --config-env ENV`. A stack's first deploy runs with
   TableDeletionProtection=false and `--on-failure DELETE`: if the create fails, the stack and
   everything it made are deleted (the stateful resources are RetainExceptOnCreate, and
   unprotected tables can be deleted), so the next attempt starts from nothing, with no
   orphaned tables, keys or buckets. When the environment protects its tables, a second
   deploy then turns the protection on; it changes nothing any function runs (no new
   versions, no CodeDeploy shift).
3. `tools/smoke.py --stack <stack>`: the contract's main flows against what was deployed.

Later deploys are step 2 as it is (CodeDeploy shifts `live` as DeploymentType says and rolls
back on the functions' alarms) and step 3.
"""

from __future__ import annotations

import argparse
import shlex
import subprocess
import sys
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
SAMCONFIG = ROOT / "samconfig.toml"
ENVIRONMENTS = ("dev", "staging", "prod")
# The SAM CLI of the virtualenv (requirements/dev.txt pins it), else the one on PATH.
SAM = (
    str(Path(sys.executable).with_name("sam"))
    if Path(sys.executable).with_name("sam").exists()
    else "sam"
)


@dataclass(frozen=True)
class Environment:
    name: str
    stack_name: str
    region: str | None
    overrides: dict[str, str]  # parameter_overrides of its deploy section


def parse_overrides(text: str) -> dict[str, str]:
    """samconfig's `parameter_overrides` as SAM CLI reads it (`Key="Value" …`)."""
    from samcli.cli.types import CfnParameterOverridesType

    return dict(CfnParameterOverridesType().convert(text, None, None) or {})


def format_overrides(overrides: dict[str, str]) -> str:
    """The other way round: what `--parameter-overrides` takes."""
    return " ".join(f'{key}="{value}"' for key, value in overrides.items())


def environment(name: str, samconfig: dict[str, Any] | None = None) -> Environment:
    config = samconfig if samconfig is not None else tomllib.loads(SAMCONFIG.read_text())
    if name not in config:
        raise SystemExit(f"error: samconfig.toml has no environment {name!r} ({ENVIRONMENTS})")
    section = config[name]
    deploy = section.get("deploy", {}).get("parameters", {})
    stack = deploy.get("stack_name") or section.get("global", {}).get("parameters", {}).get(
        "stack_name"
    )
    if not stack:
        raise SystemExit(f"error: samconfig.toml's {name} environment names no stack")
    return Environment(
        name=name,
        stack_name=stack,
        region=deploy.get("region"),
        overrides=parse_overrides(deploy.get("parameter_overrides", "")),
    )


def stack_exists(cloudformation: Any, stack_name: str) -> bool:
    """Whether the stack exists to be updated (a stack only reviewed in a change set does
    not; one whose first create rolled back must be deleted first)."""
    try:
        (stack,) = cloudformation.describe_stacks(StackName=stack_name)["Stacks"]
    except cloudformation.exceptions.ClientError as exc:
        if "does not exist" in str(exc):
            return False
        raise
    status = stack["StackStatus"]
    if status == "ROLLBACK_COMPLETE":
        raise SystemExit(
            f"error: {stack_name}'s first create failed and rolled back; delete it "
            f"(sam delete --stack-name {stack_name}) and deploy again"
        )
    return status != "REVIEW_IN_PROGRESS"


def plan(env: Environment, *, exists: bool) -> list[list[str]]:
    """The commands that deploy the environment and check it."""
    deploy = [SAM, "deploy", "--config-env", env.name]
    commands = [[SAM, "build"]]
    if exists:
        commands.append(deploy)
    else:
        first = {**env.overrides, "TableDeletionProtection": "false"}
        commands.append(
            [*deploy, "--on-failure", "DELETE", "--parameter-overrides", format_overrides(first)]
        )
        if env.overrides.get("TableDeletionProtection", "true") == "true":
            commands.append(deploy)  # the tables' deletion protection on
    smoke = [sys.executable, "-m", "tools.smoke", "--stack", env.stack_name]
    if env.region:
        smoke += ["--region", env.region]
    commands.append(smoke)
    return commands


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("environment", choices=ENVIRONMENTS)
    args = parser.parse_args(argv)
    env = environment(args.environment)

    import boto3

    exists = stack_exists(boto3.client("cloudformation", region_name=env.region), env.stack_name)
    for command in plan(env, exists=exists):
        print("+", shlex.join(command), flush=True)
        subprocess.run(command, cwd=ROOT, check=True)  # noqa: S603 - our own commands
    return 0


if __name__ == "__main__":
    sys.exit(main())
