"""Write template.yaml once per value of each parameter that decides resources, for checkov.

checkov reads a CloudFormation template as deployed with the parameters' defaults: a
resource whose Condition is false by default (the web client's bucket and distribution,
the alarm e-mail's subscription, a reserved concurrency, the API Gateway account role …) is
never checked. `make lint` therefore also checks a copy of the template per parameter that
any Condition reads, with that parameter's default switched to the value that flips it:

    python -m tools.checkov_variants <directory>   # then: checkov --directory <directory>

Each copy is the template's text with one `Default:` changed, so its tags and comments (and
checkov's `Metadata` skips) stay as written.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from local.template import TEMPLATE_PATH, load_template

# The value that flips each condition a parameter decides (the defaults are the other side).
FLIPPED = {
    "SharedGeminiKeySecretArn": "arn:aws:secretsmanager:us-east-1:123456789012:secret:collab-chat/gemini-AbCdEf",
    "AlarmEmail": "ops@example.com",
    "TableDeletionProtection": "false",
    "BotWorkerReservedConcurrency": "10",
    "AuthReservedConcurrency": "5",
    "SnapStart": "true",
    "WebClient": "true",
    "ManageApiGatewayAccountRole": "false",
    "LogLevel": "WARNING",
}  # fmt: skip


def _references(value: Any) -> Iterator[str]:
    if isinstance(value, dict):
        for key, item in value.items():
            if key == "Ref" and isinstance(item, str):
                yield item
            else:
                yield from _references(item)
    elif isinstance(value, list):
        for item in value:
            yield from _references(item)


def deciding_parameters(template: dict[str, Any]) -> set[str]:
    """Every parameter a Condition reads."""
    return set(_references(template.get("Conditions") or {})) & set(template["Parameters"])


def with_default(text: str, name: str, value: str) -> str:
    """The template's text with one parameter's Default changed."""
    block = re.compile(rf"(^  {re.escape(name)}:\n(?:    .*\n|\s*\n)*?    Default: ).*$", re.M)
    changed, count = block.subn(lambda m: m.group(1) + f'"{value}"', text, count=1)
    if count != 1:
        raise SystemExit(f"tools/checkov_variants.py: no Default of {name} in the template")
    return changed


def write_variants(directory: Path, template_path: Path = TEMPLATE_PATH) -> list[Path]:
    template = load_template(template_path)
    deciding = deciding_parameters(template)
    missing = deciding - set(FLIPPED)
    if missing:
        raise SystemExit(f"tools/checkov_variants.py: give {sorted(missing)} a value in FLIPPED")
    text = template_path.read_text()
    written = []
    for name in sorted(deciding):
        # Named after the parameter only: checkov scans the file's path with the template
        # (a "…SecretArn=…" path reads as a hard-coded secret to it).
        path = directory / name / "template.yaml"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(with_default(text, name, FLIPPED[name]))
        written.append(path)
    return written


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print("usage: python -m tools.checkov_variants <directory>", file=sys.stderr)
        return 2
    for path in write_variants(Path(args[0])):
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
