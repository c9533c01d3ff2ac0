"""The inside of one local Lambda execution environment (a worker process).

Started by `local.lambda_runtime` as `python -I lambda_bootstrap.py <fd> <config-json>`: `-I`
keeps the parent's PYTHON* variables and the repository out, so the handler sees only its
code directory, its layers and the virtualenv's packages, as on Lambda (/var/task,
/opt/python, the runtime). Of the repository it loads only `local/events.py` (the context
object), by its path.

Protocol on the socket `fd`, one JSON document per line. Worker -> parent: first
`{"type": "ready"}` or `{"type": "init_error", "error": {...}}`, then one
`{"type": "result", "id", "ok", "payload" | "error"}` per invocation. Parent -> worker:
`{"id", "event", "deadline_ms", "request_id", "trace_id"}`.
"""

from __future__ import annotations

import decimal
import importlib
import importlib.util
import json
import os
import signal
import socket
import sys
import traceback
from pathlib import Path
from typing import Any

EVENTS = Path(__file__).with_name("events.py")


def _die_with_parent() -> None:
    """Ask Linux to kill this worker when the local stack dies, even by SIGKILL."""
    if sys.platform != "linux":
        return
    try:
        import ctypes

        pr_set_pdeathsig = 1
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(pr_set_pdeathsig, signal.SIGKILL)
    except OSError:
        return
    if os.getppid() == 1:  # the parent is already gone
        os._exit(1)


def _events_module() -> Any:
    """local/events.py (LambdaContext), loaded by its path: the repository stays off sys.path."""
    spec = importlib.util.spec_from_file_location("_local_events", EVENTS)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def _error(exc: BaseException, error_type: str | None = None) -> dict[str, Any]:
    return {
        "errorMessage": str(exc),
        "errorType": error_type or type(exc).__name__,
        "requestId": "",
        "stackTrace": traceback.format_list(traceback.extract_tb(exc.__traceback__)[1:]),
    }


def _decimal(value: Any) -> Any:
    # The Python runtime serialises Decimals (DynamoDB numbers) as JSON numbers too.
    if isinstance(value, decimal.Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")


def _load_handler(handler: str) -> Any:
    module_name, _, function_name = handler.rpartition(".")
    try:
        module = importlib.import_module(module_name.replace("/", "."))
    except ImportError as exc:
        raise _InitError(
            "Runtime.ImportModuleError", f"Unable to import module '{module_name}': {exc}"
        ) from exc
    except SyntaxError as exc:
        raise _InitError(
            "Runtime.UserCodeSyntaxError", f"Syntax error in module '{module_name}': {exc}"
        ) from exc
    function = getattr(module, function_name, None)
    if function is None:
        raise _InitError(
            "Runtime.HandlerNotFound",
            f"Handler '{function_name}' missing on module '{module_name}'",
        )
    return function


class _InitError(Exception):
    def __init__(self, error_type: str, message: str):
        super().__init__(message)
        self.error_type = error_type


def main() -> None:
    _die_with_parent()
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the local stack's to handle
    channel_fd = int(sys.argv[1])
    config = json.loads(sys.argv[2])
    code_dir = config["code_dir"]
    sys.path[:0] = [code_dir, *config["layer_paths"]]
    os.chdir(code_dir)
    sys.stdin = open(os.devnull)  # noqa: SIM115 - the handler has no standard input on Lambda
    sys.stdout.reconfigure(line_buffering=True)  # type: ignore[union-attr]
    sys.stderr.reconfigure(line_buffering=True)  # type: ignore[union-attr]

    channel = socket.socket(fileno=channel_fd)
    reader = channel.makefile("rb")
    writer = channel.makefile("wb")

    def send(message: dict[str, Any]) -> None:
        try:
            data = json.dumps(message, default=_decimal)
        except (TypeError, ValueError) as exc:
            message = {
                "type": "result",
                "id": message.get("id"),
                "ok": False,
                "error": {
                    "errorMessage": f"Unable to marshal response: {exc}",
                    "errorType": "Runtime.MarshalError",
                },
            }
            data = json.dumps(message)
        writer.write(data.encode() + b"\n")
        writer.flush()

    try:
        handler = _load_handler(config["handler"])
    except _InitError as exc:
        print(f"[ERROR] {exc.error_type}: {exc}", file=sys.stderr)
        cause = exc.__cause__
        missing = getattr(cause, "name", None)
        if cause is not None and missing != config["handler"].rpartition(".")[0]:
            traceback.print_exception(cause)  # the handler's own import failed: show where
        send({"type": "init_error", "error": _error(exc, exc.error_type)})
        return
    except Exception as exc:
        traceback.print_exc()
        send({"type": "init_error", "error": _error(exc, f"Runtime.{type(exc).__name__}")})
        return
    LambdaContext = _events_module().LambdaContext
    send({"type": "ready"})

    for line in reader:
        request = json.loads(line)
        os.environ["_X_AMZN_TRACE_ID"] = request["trace_id"]
        context = LambdaContext.from_environment(
            request["request_id"], request["deadline_ms"], config["function_arn"]
        )
        try:
            payload = handler(request["event"], context)
        except Exception as exc:
            error = _error(exc)
            print(f"[ERROR] {error['errorType']}: {error['errorMessage']}", file=sys.stderr)
            traceback.print_exc()
            send({"type": "result", "id": request["id"], "ok": False, "error": error})
        else:
            send({"type": "result", "id": request["id"], "ok": True, "payload": payload})


if __name__ == "__main__":
    main()
