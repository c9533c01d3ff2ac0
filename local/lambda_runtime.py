"""Local Lambda: each function runs in its own worker processes, as execution environments.

A function gets a small pool of workers (`lambda_bootstrap.py`), started on demand up to
its concurrency and kept warm between invocations, like Lambda's execution environments.
A worker runs one invocation at a time, with exactly the environment the template gives
the function plus Lambda's own variables. An invocation that outlives the function's
Timeout has its worker killed (the next invocation starts a fresh one), as Lambda does.
Code changes are picked up: workers started before a change are retired.

Init: an environment's init (its imports) may take `INIT_TIMEOUT_SECONDS`, Lambda's 10 s. As
on Lambda, an init started for an invocation that overruns it is not a failed invocation:
Lambda runs the init again within the invocation, under the function's Timeout, and the
handler gets what is left of it. Here the init simply goes on under that Timeout (a prewarm,
which serves no invocation, still gives up at 10 s).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import itertools
import json
import logging
import os
import signal
import socket
import sys
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from local.model import FunctionSpec

log = logging.getLogger("local")

BOOTSTRAP = Path(__file__).with_name("lambda_bootstrap.py")
INIT_TIMEOUT_SECONDS = 10.0  # Lambda's limit for the init phase (imports, cold start)
MAX_PAYLOAD_BYTES = 6 * 1024 * 1024  # synchronous invocation request and response
_STREAM_LIMIT = 2 * MAX_PAYLOAD_BYTES
_LOG_LINE_LIMIT = 256 * 1024


@dataclass
class InvokeResult:
    ok: bool
    payload: Any = None
    error: dict[str, Any] | None = None
    timed_out: bool = False
    duration_ms: float = 0.0
    cold_start: bool = False


class WorkerDied(Exception):
    pass


class Worker:
    """One execution environment: a `lambda_bootstrap.py` process and its channel."""

    _ids = itertools.count(1)

    def __init__(self, pool: FunctionPool):
        self.pool = pool
        self.index = next(self._ids)
        self.generation = pool.generation
        self.process: asyncio.subprocess.Process | None = None
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None
        self._pumps: list[asyncio.Task[None]] = []

    @property
    def alive(self) -> bool:
        return self.process is not None and self.process.returncode is None

    async def start(self, init_timeout: float | None = None) -> dict[str, Any] | None:
        """Start the process and run the function's init, for at most `init_timeout`
        seconds (Lambda's init limit by default); returns the init error, if any."""
        init_timeout = INIT_TIMEOUT_SECONDS if init_timeout is None else init_timeout
        spec = self.pool.spec
        parent, child = socket.socketpair()
        config = {
            "handler": spec.handler,
            "code_dir": str(spec.code_dir),
            "layer_paths": [str(path) for path in spec.layer_paths],
            "function_arn": spec.arn,
        }
        try:
            self.process = await asyncio.create_subprocess_exec(
                sys.executable,
                "-I",
                str(BOOTSTRAP),
                str(child.fileno()),
                json.dumps(config),
                env=self.pool.environment,
                cwd=spec.code_dir,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
                pass_fds=(child.fileno(),),
                limit=_LOG_LINE_LIMIT,
            )
        finally:
            child.close()
        self.reader, self.writer = await asyncio.open_connection(sock=parent, limit=_STREAM_LIMIT)
        assert self.process.stdout is not None and self.process.stderr is not None
        self._pumps = [
            asyncio.create_task(self._pump(self.process.stdout)),
            asyncio.create_task(self._pump(self.process.stderr)),
        ]
        try:
            message = await asyncio.wait_for(self._receive(), init_timeout)
        except TimeoutError:
            self.kill()
            await self.wait_closed()
            return {
                "errorType": "Runtime.InitTimeout",
                "errorMessage": f"Init took longer than {init_timeout:.0f} s",
            }
        except WorkerDied:
            self.kill()
            return {"errorType": "Runtime.ExitError", "errorMessage": "Runtime exited during init"}
        if message.get("type") == "init_error":
            self.kill()
            return message["error"]
        return None

    async def _pump(self, stream: asyncio.StreamReader) -> None:
        """The function's own output (its CloudWatch logs), prefixed with its name."""
        while True:
            try:
                line = await stream.readline()
            except (ValueError, asyncio.LimitOverrunError):
                continue
            if not line:
                return
            self.pool.emit_log(line.decode(errors="replace").rstrip("\n"))

    async def _receive(self) -> dict[str, Any]:
        assert self.reader is not None
        line = await self.reader.readline()
        if not line:
            raise WorkerDied
        if len(line) > MAX_PAYLOAD_BYTES + 1024:  # the payload plus this protocol's envelope
            raise ValueError("response too large")
        return json.loads(line)

    async def call(self, request: dict[str, Any]) -> dict[str, Any]:
        assert self.writer is not None
        self.writer.write(json.dumps(request).encode() + b"\n")
        await self.writer.drain()
        return await self._receive()

    def kill(self) -> None:
        if self.writer is not None:
            self.writer.close()
        if self.alive:
            assert self.process is not None
            with contextlib.suppress(ProcessLookupError):
                self.process.send_signal(signal.SIGKILL)
        self.pool.forget(self)

    async def wait_closed(self) -> None:
        if self.process is not None:
            with contextlib.suppress(ProcessLookupError):
                await self.process.wait()
        for pump in self._pumps:
            with contextlib.suppress(asyncio.CancelledError):
                await pump


class FunctionPool:
    """A function's execution environments: at most `max_workers` processes, reused warm."""

    def __init__(
        self,
        spec: FunctionSpec,
        environment: dict[str, str],
        *,
        max_workers: int,
        log_line: Callable[[str, str], None],
    ):
        self.spec = spec
        self.environment = environment
        self.max_workers = max(1, min(max_workers, spec.reserved_concurrency or max_workers))
        self.generation = 0
        self._log_line = log_line
        self._slots = asyncio.Semaphore(self.max_workers)
        self._idle: list[Worker] = []
        self._workers: set[Worker] = set()

    def emit_log(self, line: str) -> None:
        self._log_line(self.spec.logical_id, line)

    def forget(self, worker: Worker) -> None:
        self._workers.discard(worker)
        if worker in self._idle:
            self._idle.remove(worker)

    async def prewarm(self) -> dict[str, Any] | None:
        """Start one environment ahead of the first invocation; returns its init error."""
        async with self._slots:
            worker = Worker(self)
            self._workers.add(worker)
            error = await worker.start()
            if error is None:
                self._idle.append(worker)
            return error

    def code_changed(self) -> None:
        """Retire every environment started before now: the next invocation sees new code."""
        self.generation += 1
        for worker in list(self._idle):
            worker.kill()

    async def invoke(self, event: Any, *, request_id: str | None = None) -> InvokeResult:
        request_id = request_id or str(uuid.uuid4())
        async with self._slots:
            return await self._invoke(event, request_id)

    async def _invoke(self, event: Any, request_id: str) -> InvokeResult:
        started = time.monotonic()
        worker = self._idle.pop() if self._idle else None
        cold_start = worker is None or not worker.alive or worker.generation != self.generation
        if cold_start:
            if worker is not None:
                worker.kill()
            worker = Worker(self)
            self._workers.add(worker)
            try:  # an init over 10 s goes on under the invocation's Timeout, as on Lambda
                init_error = await worker.start(max(INIT_TIMEOUT_SECONDS, self.spec.timeout))
            except BaseException:
                worker.kill()
                raise
            if init_error is not None:
                self.emit_log(f"[ERROR] {init_error['errorType']}: {init_error['errorMessage']}")
                return InvokeResult(
                    ok=False, error=init_error, duration_ms=_ms(started), cold_start=True
                )
        assert worker is not None
        # The invocation's Timeout covers an init past Lambda's 10 s (a suppressed init).
        overrun = max(0.0, time.monotonic() - started - INIT_TIMEOUT_SECONDS) if cold_start else 0.0
        timeout = max(0.001, self.spec.timeout - overrun)
        request = {
            "id": request_id,
            "request_id": request_id,
            "event": event,
            "deadline_ms": int(time.time() * 1000 + timeout * 1000),
            "trace_id": _trace_id(),
        }
        invoked = time.monotonic()
        try:
            reply = await asyncio.wait_for(worker.call(request), timeout)
        except TimeoutError:
            worker.kill()
            message = f"{_now()} {request_id} Task timed out after {time.monotonic() - invoked:.2f} seconds"
            self.emit_log(message)
            error = {"errorType": "Sandbox.Timedout", "errorMessage": message}
            return InvokeResult(
                ok=False,
                error=error,
                timed_out=True,
                duration_ms=_ms(started),
                cold_start=cold_start,
            )
        except ValueError:  # a reply line over the stream limit
            worker.kill()
            error = {
                "errorType": "Function.ResponseSizeTooLarge",
                "errorMessage": "Response payload size exceeded maximum allowed payload size",
            }
            return InvokeResult(
                ok=False, error=error, duration_ms=_ms(started), cold_start=cold_start
            )
        except (WorkerDied, ConnectionError):
            worker.kill()
            error = {
                "errorType": "Runtime.ExitError",
                "errorMessage": f"RequestId: {request_id} Error: Runtime exited",
            }
            self.emit_log(f"[ERROR] {error['errorMessage']}")
            return InvokeResult(
                ok=False, error=error, duration_ms=_ms(started), cold_start=cold_start
            )
        except BaseException:
            worker.kill()  # cancelled mid-invocation: this environment's state is unknown
            raise
        self._idle.append(worker)
        if reply.get("ok"):
            return InvokeResult(
                ok=True,
                payload=reply.get("payload"),
                duration_ms=_ms(started),
                cold_start=cold_start,
            )
        return InvokeResult(
            ok=False, error=reply.get("error"), duration_ms=_ms(started), cold_start=cold_start
        )

    async def close(self) -> None:
        workers = list(self._workers)
        for worker in workers:
            worker.kill()
        await asyncio.gather(*(worker.wait_closed() for worker in workers), return_exceptions=True)


def _ms(started: float) -> float:
    return (time.monotonic() - started) * 1000


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def _trace_id() -> str:
    return f"Root=1-{int(time.time()):08x}-{uuid.uuid4().hex[:24]};Parent={uuid.uuid4().hex[:16]};Sampled=0"


def lambda_environment(
    spec: FunctionSpec, *, region: str, aws_endpoint: str, extra: dict[str, str]
) -> dict[str, str]:
    """The function's environment: the template's variables, Lambda's reserved ones, and
    what points boto3 at moto. Nothing of the local stack's own environment leaks in."""
    stream = f"{datetime.now(UTC):%Y/%m/%d}/[$LATEST]{uuid.uuid4().hex}"
    return {
        "PATH": os.pathsep.join(
            [str(Path(sys.executable).parent), "/usr/local/bin", "/usr/bin", "/bin"]
        ),
        "LANG": "C.UTF-8",
        "TZ": ":UTC",
        "LAMBDA_TASK_ROOT": str(spec.code_dir),
        "_HANDLER": spec.handler,
        "AWS_EXECUTION_ENV": f"AWS_Lambda_{spec.runtime}",
        "AWS_LAMBDA_FUNCTION_NAME": spec.name,
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(spec.memory),
        "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
        "AWS_LAMBDA_INITIALIZATION_TYPE": "on-demand",
        "AWS_LAMBDA_LOG_GROUP_NAME": f"/aws/lambda/{spec.name}",
        "AWS_LAMBDA_LOG_STREAM_NAME": stream,
        "AWS_REGION": region,
        "AWS_DEFAULT_REGION": region,
        "AWS_ACCESS_KEY_ID": "local",
        "AWS_SECRET_ACCESS_KEY": "local",
        "AWS_SESSION_TOKEN": "local",
        "AWS_ENDPOINT_URL": aws_endpoint,
        # A developer's ~/.aws must not redirect or sign the functions' calls.
        "AWS_CONFIG_FILE": os.devnull,
        "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
        "AWS_EC2_METADATA_DISABLED": "true",
        # What `sam local` sets: Powertools' Tracer turns itself off (no X-Ray daemon here).
        "AWS_SAM_LOCAL": "true",
        **spec.environment,
        **extra,
    }


def code_fingerprint(paths: list[Path]) -> str:
    """Changes when a .py file under one of `paths` is added, removed or modified."""
    digest = hashlib.sha256()
    for root in paths:
        for directory, subdirectories, files in os.walk(root):
            subdirectories[:] = sorted(
                d for d in subdirectories if d != "__pycache__" and not d.startswith(".")
            )
            for name in sorted(files):
                if name.endswith(".py"):
                    path = os.path.join(directory, name)
                    with contextlib.suppress(OSError):
                        stat = os.stat(path)
                        digest.update(f"{path}:{stat.st_mtime_ns}:{stat.st_size}\n".encode())
    return digest.hexdigest()
