"""The packages the dependencies layer leaves out (tools/lock_layer.py EXCLUDED) are not needed:
in a fresh process where they cannot be imported, handlers import as on Lambda (tracing on)
and the libraries do what the service asks of them, the bot's model call included (the real
google-genai SDK against the local fake Gemini server). Every function's handler, each with
only its own layers' packages: tests/unit/test_function_layers.py."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

_spec = importlib.util.spec_from_file_location("lock_layer", ROOT / "tools" / "lock_layer.py")
assert _spec and _spec.loader
lock_layer = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(lock_layer)

# Distribution -> the top-level modules it installs; None: the Lambda runtime provides it
# (with boto3), so it stays importable here too.
IMPORT_NAMES: dict[str, list[str] | None] = {
    "botocore": None,
    "python-dateutil": None,
    "six": None,
    "cryptography": ["cryptography"],
    "cffi": ["cffi", "_cffi_backend"],
    "pycparser": ["pycparser"],
    "pyasn1": ["pyasn1"],
    "pyasn1-modules": ["pyasn1_modules"],
    "dnspython": ["dns"],
}

SCRIPT = r"""
import importlib.util, sys

from tests.support.layers import block

BLOCKED = set(sys.argv[1].split(","))
block(BLOCKED)

for function in ["auth", "rooms", "ws_connect", "ws_message", "bot_worker"]:
    spec = importlib.util.spec_from_file_location(f"app_{function}", f"functions/{function}/app.py")
    spec.loader.exec_module(importlib.util.module_from_spec(spec))

import bcrypt, jwt, pydantic

token = jwt.encode({"sub": "u1"}, "k" * 32, algorithm="HS256")
assert jwt.decode(token, "k" * 32, algorithms=["HS256"])["sub"] == "u1"
hashed = bcrypt.hashpw(b"secret", bcrypt.gensalt(rounds=4))
assert bcrypt.checkpw(b"secret", hashed)
assert pydantic.TypeAdapter(pydantic.EmailStr).validate_python("a@example.com") == "a@example.com"

from google import genai
from google.genai import types
from local.fake_gemini import start

fake = start()
client = genai.Client(
    api_key="AIzaFAKE-test-key-0123456789",
    vertexai=False,
    http_options=types.HttpOptions(
        base_url=fake.base_url, retry_options=types.HttpRetryOptions(attempts=1)
    ),
)
stream = client.models.generate_content_stream(model="gemini-2.5-flash", contents="@bot hi")
answer = "".join(chunk.text or "" for chunk in stream)
assert "local stand-in for Gemini" in answer, answer
fake.stop()

loaded = sorted(BLOCKED & {name.split(".")[0] for name in sys.modules})
assert not loaded, loaded
print("ok")
"""


def test_every_excluded_package_is_mapped() -> None:
    assert IMPORT_NAMES.keys() == lock_layer.EXCLUDED.keys()


def test_handlers_and_libraries_work_without_the_packages_the_layer_leaves_out() -> None:
    blocked = sorted(name for names in IMPORT_NAMES.values() for name in names or [])
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(ROOT), str(ROOT / "layers" / "shared")]),
        # As on Lambda: Powertools' Tracer loads the X-Ray SDK.
        "LAMBDA_TASK_ROOT": str(ROOT),
        "POWERTOOLS_TRACE_DISABLED": "false",
        # Settings only some functions get; each handler checks its own at import.
        "BOT_QUEUE_URL": "https://sqs.us-east-1.amazonaws.com/1/q.fifo",
        "FANOUT_QUEUE_URL": "https://sqs.us-east-1.amazonaws.com/1/fanout.fifo",
        "BIG_ROOMS_PARAMETER": "big-rooms",
        "GEMINI_KEYS_KMS_KEY_ID": "key-id",
    }
    result = subprocess.run(  # noqa: S603 - our own script
        [sys.executable, "-c", SCRIPT, ",".join(blocked)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.strip().endswith("ok")
