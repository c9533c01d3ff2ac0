"""End-to-end: the local stack (`python -m local`) in a subprocess, driven over real sockets.

`LocalStackProcess` starts the stack on free ports (the stack writes its URLs to a ready
file once it serves) and stops it as Ctrl-C does, checking nothing is left behind.
`Rest` and `Socket` are thin HTTP and WebSocket clients for the tests.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from websockets.sync.client import ClientConnection, connect

ROOT = Path(__file__).resolve().parents[2]
START_TIMEOUT_SECONDS = 90
# Seen by the stack process only: a function that sees it would prove the environment leaks.
PARENT_ONLY_VARIABLE = "E2E_PARENT_ONLY_MARKER"


class LocalStackProcess:
    def __init__(
        self, workdir: Path, *, template: Path | None = None, extra_args: list[str] | None = None
    ):
        self.workdir = workdir
        self.ready_file = workdir / "ready.json"
        self.log_path = workdir / "stack.log"
        args = [
            sys.executable,
            "-m",
            "local",
            "--rest-port",
            "0",
            "--ws-port",
            "0",
            "--aws-port",
            "0",
            "--s3-port",
            "0",
            "--stack-name",
            "e2e",
            "--no-reload",
            "--ready-file",
            str(self.ready_file),
            "--parameter-overrides",
            "BcryptCost=4",
            # every test's users register from 127.0.0.1, in one stack per session
            "RegistrationsPerAddressPerHour=10000",
            # and fail logins from it: schemathesis's wrong passwords (logins, password
            # changes, deletions) must not throttle the other tests' right ones
            "LoginFailuresPerAddress=10000",
            *(extra_args or []),
        ]
        if template is not None:
            args += ["--template", str(template)]
        environment = {**os.environ, PARENT_ONLY_VARIABLE: "1"}
        environment.pop("GEMINI_API_KEY", None)  # always the fake Gemini in tests
        self._log = self.log_path.open("wb")
        self.process = subprocess.Popen(  # noqa: S603 - our own module
            args,
            cwd=ROOT,
            env=environment,
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: Ctrl-C is sent to the group
        )
        self.urls: dict[str, str] = {}
        self.outputs: dict[str, str] = {}
        self.started_in = 0.0

    def wait_ready(self) -> LocalStackProcess:
        started = time.monotonic()
        while time.monotonic() - started < START_TIMEOUT_SECONDS:
            if self.process.poll() is not None:
                raise RuntimeError(
                    f"the local stack exited with {self.process.returncode}:\n{self.log_tail()}"
                )
            if self.ready_file.exists():
                ready = json.loads(self.ready_file.read_text())
                self.urls, self.outputs = ready["urls"], ready["outputs"]
                self.started_in = time.monotonic() - started
                return self
            time.sleep(0.05)
        self.kill()
        raise RuntimeError(
            f"the local stack did not get ready in {START_TIMEOUT_SECONDS} s:\n{self.log_tail()}"
        )

    def log_tail(self, lines: int = 60) -> str:
        self._log.flush()
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])

    def interrupt(self, timeout: float = 20) -> int:
        """Ctrl-C: SIGINT to the whole process group, as a terminal sends it."""
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGINT)
        try:
            return self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            raise

    def leftover_processes(self) -> bool:
        """Whether any process of the stack's group (workers, moto) outlived it."""
        try:
            os.killpg(self.process.pid, 0)
        except ProcessLookupError:
            return False
        return True

    def kill(self) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait()

    def stop(self) -> None:
        try:
            code = self.interrupt()
        finally:
            self._log.close()
        assert code == 0, f"the local stack exited with {code}:\n{self.log_tail()}"
        deadline = time.monotonic() + 5
        while self.leftover_processes() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not self.leftover_processes(), "processes of the local stack outlived it"


@pytest.fixture(scope="session")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStackProcess]:
    """The stack of the real template.yaml, shared by the whole session."""
    running = LocalStackProcess(tmp_path_factory.mktemp("stack")).wait_ready()
    yield running
    running.stop()


# ---------------------------------------------------------------------- clients
class Rest:
    def __init__(self, base_url: str):
        self.client = httpx.Client(base_url=base_url, timeout=30)

    def request(
        self, method: str, path: str, body: Any = None, *, token: str | None = None
    ) -> httpx.Response:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return self.client.request(method, path, json=body, headers=headers)

    def get(self, path: str, *, token: str | None = None) -> httpx.Response:
        return self.request("GET", path, token=token)

    def post(self, path: str, body: Any = None, *, token: str | None = None) -> httpx.Response:
        return self.request("POST", path, body, token=token)


class Socket:
    """A WebSocket whose frames a background thread collects; tests wait for the ones they expect."""

    def __init__(self, url: str):
        self.connection: ClientConnection = connect(
            url, open_timeout=20, close_timeout=2, legacy=True
        )
        self.frames: list[Any] = []
        self.closed = threading.Event()
        self._changed = threading.Condition()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        try:
            for data in self.connection:
                frame = json.loads(data) if isinstance(data, str) else data
                with self._changed:
                    self.frames.append(frame)
                    self._changed.notify_all()
        except Exception:  # noqa: S110 - closed: the waiters see `closed`
            pass
        finally:
            self.closed.set()
            with self._changed:
                self._changed.notify_all()

    def send(self, **frame: Any) -> None:
        self.connection.send(json.dumps(frame))

    def wait_for(
        self, predicate: Callable[[Any], bool], timeout: float = 15, what: str = "frame"
    ) -> Any:
        deadline = time.monotonic() + timeout
        with self._changed:
            while True:
                for frame in self.frames:
                    if predicate(frame):
                        return frame
                remaining = deadline - time.monotonic()
                if remaining <= 0 or (self.closed.is_set() and not self._reader.is_alive()):
                    raise AssertionError(f"no {what} within {timeout} s; got {self.frames}")
                self._changed.wait(remaining)

    def wait_for_type(self, frame_type: str, timeout: float = 15, **fields: Any) -> dict[str, Any]:
        return self.wait_for(
            lambda f: (
                isinstance(f, dict)
                and f.get("type") == frame_type
                and all(f.get(k) == v for k, v in fields.items())
            ),
            timeout,
            what=f"{frame_type} frame with {fields}",
        )

    def close(self) -> None:
        self.connection.close()
        self._reader.join(5)


def unique(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex[:8]}"
