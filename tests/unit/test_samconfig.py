"""samconfig.toml's environments, read as SAM CLI reads them, and `make deploy`'s steps
(tools/deploy.py): each environment a stack of its own that template.yaml accepts, and a
release path of build, deploy (a first one that can fail cleanly) and smoke test."""

from __future__ import annotations

import tomllib

import pytest
from samcli.cli.types import CfnTags

from local.symbols import parameter_values
from local.template import ROOT, load_template
from tools import deploy

CONFIG = tomllib.loads((ROOT / "samconfig.toml").read_text())
TEMPLATE = load_template()
ENVIRONMENTS = {name: deploy.environment(name, CONFIG) for name in deploy.ENVIRONMENTS}


def _deploy_section(name: str) -> dict:
    return CONFIG[name]["deploy"]["parameters"]


def test_three_environments_each_with_its_own_stack_namespace_and_tags():
    assert set(ENVIRONMENTS) == {"dev", "staging", "prod"}
    stacks = {env.stack_name for env in ENVIRONMENTS.values()}
    namespaces = {env.overrides["MetricsNamespace"] for env in ENVIRONMENTS.values()}
    assert len(stacks) == len(namespaces) == 3
    for name, env in ENVIRONMENTS.items():
        # every override is a parameter of the template, with a value it accepts
        values = parameter_values(TEMPLATE, env.overrides)
        assert values["MetricsNamespace"].startswith("CollabChat")
        tags = CfnTags().convert(_deploy_section(name)["tags"], None, None)
        assert tags == {"project": "collab-chat", "environment": name}
        assert "CAPABILITY_IAM" in _deploy_section(name)["capabilities"]


def test_one_environment_manages_the_accounts_api_gateway_role():
    managing = [
        name
        for name, env in ENVIRONMENTS.items()
        if parameter_values(TEMPLATE, env.overrides)["ManageApiGatewayAccountRole"] == "true"
    ]
    assert managing == ["prod"]


def test_prod_bounds_the_auth_functions_concurrency():
    """bcrypt bursts are capped in production; the other environments may live in accounts
    whose quota cannot reserve any."""
    reserved = {
        name: int(parameter_values(TEMPLATE, env.overrides)["AuthReservedConcurrency"])
        for name, env in ENVIRONMENTS.items()
    }
    assert reserved["prod"] > 0 and reserved["dev"] == reserved["staging"] == 0


def test_only_dev_deploys_at_once_syncs_and_leaves_its_tables_unprotected():
    def value(name: str, parameter: str) -> str:
        return parameter_values(TEMPLATE, ENVIRONMENTS[name].overrides)[parameter]

    assert value("dev", "DeploymentType") == "AllAtOnce"
    for name in ("staging", "prod"):
        assert value(name, "DeploymentType").startswith(("Canary", "Linear")), name
        assert value(name, "TableDeletionProtection") == "true", name
        assert _deploy_section(name)["confirm_changeset"] is True
    assert value("dev", "TableDeletionProtection") == "false"
    assert [name for name, env in CONFIG.items() if isinstance(env, dict) and "sync" in env] == [
        "dev"
    ]
    assert parameter_values(
        TEMPLATE, deploy.parse_overrides(CONFIG["dev"]["sync"]["parameters"]["parameter_overrides"])
    ) == parameter_values(TEMPLATE, ENVIRONMENTS["dev"].overrides)


def test_nothing_deploys_without_naming_its_environment():
    default = CONFIG["default"]
    assert "deploy" not in default and "sync" not in default
    assert "stack_name" not in str(default)


# ------------------------------------------------------------------ make deploy
def test_a_first_deploy_can_fail_cleanly_then_protects_the_tables():
    env = ENVIRONMENTS["prod"]
    build, first, protect, smoke = deploy.plan(env, exists=False)
    assert build[1:] == ["build"]
    assert first[1:5] == ["deploy", "--config-env", "prod", "--on-failure"]
    assert first[5] == "DELETE"  # a failed create deletes the stack and what it made
    overrides = deploy.parse_overrides(first[first.index("--parameter-overrides") + 1])
    assert overrides == {**env.overrides, "TableDeletionProtection": "false"}
    assert protect[1:] == ["deploy", "--config-env", "prod"]
    assert smoke[-4:] == ["--stack", "collab-chat", "--region", "us-east-1"]
    assert smoke[1:3] == ["-m", "tools.smoke"]


def test_an_unprotected_environments_first_deploy_needs_no_second():
    commands = deploy.plan(ENVIRONMENTS["dev"], exists=False)
    assert len(commands) == 3


def test_a_later_deploy_is_the_environments_deploy_then_the_smoke_test():
    _, again, smoke = deploy.plan(ENVIRONMENTS["staging"], exists=True)
    assert again[1:] == ["deploy", "--config-env", "staging"]
    assert "tools.smoke" in smoke


class _CloudFormation:
    class exceptions:
        ClientError = RuntimeError

    def __init__(self, status: str | None):
        self.status = status

    def describe_stacks(self, StackName: str):
        if self.status is None:
            raise RuntimeError(f"Stack with id {StackName} does not exist")
        return {"Stacks": [{"StackStatus": self.status}]}


@pytest.mark.parametrize(
    ("status", "exists"),
    [
        (None, False),
        ("REVIEW_IN_PROGRESS", False),
        ("UPDATE_COMPLETE", True),
        ("CREATE_COMPLETE", True),
    ],
)
def test_whether_the_stack_exists_to_be_updated(status, exists):
    assert deploy.stack_exists(_CloudFormation(status), "s") is exists


def test_a_rolled_back_first_create_must_be_deleted_first():
    with pytest.raises(SystemExit, match="sam delete"):
        deploy.stack_exists(_CloudFormation("ROLLBACK_COMPLETE"), "s")
