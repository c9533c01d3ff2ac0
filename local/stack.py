"""`make dev`: the whole stack of template.yaml on this machine.

moto's server (DynamoDB, SQS, KMS, Secrets Manager, S3) in a child process, the template's
tables, queues, secrets, keys and buckets created in it, every function in its own worker
processes (local.lambda_runtime), the REST API, the WebSocket API with its management
API, the SQS and DynamoDB Stream event sources, and a fake Gemini unless GEMINI_API_KEY is
set. `--faults` makes a share of the calls to DynamoDB, the management API, SQS deliveries
and Gemini fail as those services fail (local.faults).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import os
import re
import signal
import socket
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
from aiohttp import web
from botocore.config import Config

from local import web_site
from local.event_sources import SqsPoller, StreamPoller
from local.faults import FaultPlan, Faults, FaultSpecError
from local.lambda_runtime import FunctionPool, InvokeResult, code_fingerprint, lambda_environment
from local.model import StackModel, build_model
from local.provision import Provisioned, Provisioner
from local.rest_api import RestApi
from local.symbols import LocalSymbols, Resolver, TemplateError, parameter_values
from local.template import TEMPLATE_PATH, load_template
from local.websocket_api import WebSocketApi

log = logging.getLogger("local")
function_log = logging.getLogger("local.functions")

ROOT = Path(__file__).resolve().parent.parent
# The template's optional stack-wide Gemini key: locally a secret made for it (see below).
GEMINI_KEY_PARAMETER = "SharedGeminiKeySecretArn"
FAKE_GEMINI_KEY = "local-fake-key"
_EXECUTE_API_URL = re.compile(
    r"(?P<scheme>https|wss)://(?P<api>[a-z0-9]+)\.execute-api\.[a-z0-9-]+\.amazonaws\.com(?P<path>/[^\s\"']*)?"
)


@dataclass
class Options:
    template: Path = TEMPLATE_PATH
    host: str = "127.0.0.1"
    rest_port: int = 3000
    ws_port: int = 3001
    aws_port: int = 3002
    s3_port: int = 3004  # S3 on its own origin (local/aws_server.py); 3003 is the web client's
    region: str = "us-east-1"
    stack_name: str = "chat-local"
    parameter_overrides: dict[str, str] = field(default_factory=dict)
    concurrency: int = 8
    prewarm: bool = True
    reload: bool = True
    ready_file: Path | None = None
    web_port: int | None = None  # serve the web client there (local/web_site.py)
    faults: FaultPlan | None = None  # injected failures (local/faults.py)


def _public_host(host: str) -> str:
    return "127.0.0.1" if host in ("", "0.0.0.0", "::") else host


class StartupError(Exception):
    """The stack cannot start (busy port, moto not starting): reported without a traceback."""


def _listen(host: str, port: int) -> socket.socket:
    """Bind now (fail fast on a busy port); serve later, once everything is ready."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise StartupError(
            f"cannot listen on {host}:{port}: {exc.strerror} (choose another port)"
        ) from None
    sock.listen(256)
    sock.setblocking(False)
    return sock


def _start_web_site(host: str, port: int, urls: dict[str, str]) -> web_site.WebClientServer:
    try:
        return web_site.start(host, port, urls)
    except OSError as exc:
        raise StartupError(
            f"cannot listen on {host}:{port} for the web client: {exc.strerror} (choose another port)"
        ) from None


class LocalStack:
    def __init__(self, options: Options):
        self.options = options
        self.template: dict[str, Any] = {}
        self.model: StackModel | None = None
        self.provisioned = Provisioned()
        self.pools: dict[str, FunctionPool] = {}
        self.pollers: list[SqsPoller | StreamPoller] = []
        self.runners: list[web.AppRunner] = []
        self.websocket: WebSocketApi | None = None
        self.moto: asyncio.subprocess.Process | None = None
        self.fake_gemini: Any = None
        self.aws_endpoint = ""
        self.s3_endpoint = ""
        self.urls: dict[str, str] = {}
        self.outputs: dict[str, str] = {}
        self._watcher: asyncio.Task[None] | None = None
        self._sockets: dict[str, socket.socket] = {}
        self.timings: dict[str, float] = {}
        self.web: web_site.WebClientServer | None = None
        self.faults: dict[str, Faults] = {}  # this process's: management API, SQS, Gemini
        if options.faults is not None:
            for service in ("management_api", "sqs", "gemini"):
                faults = options.faults.faults(service)
                if faults is not None:
                    self.faults[service] = faults

    # ------------------------------------------------------------------ start
    async def start(self) -> None:
        options = self.options
        started = time.monotonic()
        self.template = load_template(options.template)
        parameter_values(self.template, options.parameter_overrides)  # fail early on a bad override
        self._sockets = {
            "rest": _listen(options.host, options.rest_port),
            "ws": _listen(options.host, options.ws_port),
        }
        public = _public_host(options.host)
        self.urls = {
            "rest": f"http://{public}:{self._sockets['rest'].getsockname()[1]}",
            "ws": f"ws://{public}:{self._sockets['ws'].getsockname()[1]}",
            "management": f"http://{public}:{self._sockets['ws'].getsockname()[1]}",
        }
        self.aws_endpoint, self.s3_endpoint = await self._start_moto()
        self.timings["moto"] = time.monotonic() - started
        self.urls["aws"] = self.aws_endpoint
        self.urls["s3"] = self.s3_endpoint

        phase = time.monotonic()
        model = await self._resources()
        self.timings["resources"] = time.monotonic() - phase
        if options.prewarm:
            phase = time.monotonic()
            await self._prewarm()
            self.timings["warm-up"] = time.monotonic() - phase

        await self._serve(model)
        if options.web_port is not None:  # the web client, pointed at the APIs above
            self.web = _start_web_site(options.host, options.web_port, self.urls)
            self.urls["web"] = self.web.url
        for source in model.sqs_sources:
            poller = SqsPoller(
                source,
                self.client("sqs"),
                self.invoke,
                region=options.region,
                max_concurrency=self.pools[source.function].max_workers,
                faults=self.faults.get("sqs"),
            )
            poller.start()
            self.pollers.append(poller)
        for stream in model.stream_sources:
            stream_poller = StreamPoller(
                stream,
                self.client("dynamodbstreams"),
                self.client("sqs"),
                self.invoke,
                region=options.region,
            )
            stream_poller.start()
            self.pollers.append(stream_poller)
        if options.reload:
            self._watcher = asyncio.create_task(self._watch_code())
        self._banner(time.monotonic() - started)
        if options.ready_file is not None:
            ready = {"urls": self.urls, "outputs": self.outputs, "pid": os.getpid()}
            temporary = options.ready_file.with_suffix(".tmp")
            temporary.write_text(json.dumps(ready, indent=2))
            temporary.replace(options.ready_file)

    async def _resources(self) -> StackModel:
        """The template's resources in moto, then what SAM CLI reads of it, then the functions."""
        options = self.options
        overrides = dict(options.parameter_overrides)
        # S3 on its own origin: the URLs the functions sign point there (botocore reads it).
        extra_environment: dict[str, str] = {"AWS_ENDPOINT_URL_S3": self.s3_endpoint}
        if not os.environ.get("GEMINI_API_KEY"):
            from local import fake_gemini

            self.fake_gemini = fake_gemini.start(
                host="127.0.0.1", port=0, faults=self.faults.get("gemini")
            )
            extra_environment["GEMINI_BASE_URL"] = self.fake_gemini.base_url
            self.urls["gemini"] = self.fake_gemini.base_url
        if (
            GEMINI_KEY_PARAMETER in (self.template.get("Parameters") or {})
            and GEMINI_KEY_PARAMETER not in overrides
        ):
            overrides[GEMINI_KEY_PARAMETER] = await asyncio.to_thread(self._gemini_key_secret)
        parameters = parameter_values(self.template, overrides)
        symbols = LocalSymbols(
            self.template, parameters, region=options.region, stack=options.stack_name
        )
        resolver = Resolver(self.template, symbols)
        self.provisioned = await asyncio.to_thread(
            Provisioner(self.template, resolver, self.client).run
        )
        self.model = model = await asyncio.to_thread(build_model, options.template, resolver)
        for warning in model.warnings:
            log.warning("template: %s", warning)
        self.outputs = {name: self.localize(value) for name, value in model.outputs.items()}
        for logical_id, spec in model.functions.items():
            spec.environment = {
                name: self.localize(value) for name, value in spec.environment.items()
            }
            environment = lambda_environment(
                spec, region=options.region, aws_endpoint=self.aws_endpoint, extra=extra_environment
            )
            self.pools[logical_id] = FunctionPool(
                spec, environment, max_workers=options.concurrency, log_line=_function_log_line
            )
        return model

    async def _start_moto(self) -> tuple[str, str]:
        """moto's server: (the AWS APIs' endpoint, S3's endpoint)."""
        host = self.options.host
        self.moto = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "local.aws_server",
            "--host",
            host,
            "--port",
            str(self.options.aws_port),
            "--s3-port",
            str(self.options.s3_port),
            *self._moto_fault_args(),
            cwd=ROOT,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
        )
        assert self.moto.stdout is not None
        try:
            line = await asyncio.wait_for(self.moto.stdout.readline(), 30)
        except TimeoutError:
            line = b""
        if not line.startswith(b"listening "):
            raise StartupError(
                f"moto's server did not start on {host}:{self.options.aws_port} and "
                f"{host}:{self.options.s3_port} ({line.decode(errors='replace').strip() or 'port in use?'})"
            )
        _, port, s3_port = line.split()
        public = _public_host(host)
        return f"http://{public}:{int(port)}", f"http://{public}:{int(s3_port)}"

    def _moto_fault_args(self) -> list[str]:
        plan = self.options.faults
        if plan is None or "dynamodb" not in plan.rates:
            return []
        dynamodb = FaultPlan({"dynamodb": plan.rates["dynamodb"]}, plan.seed)
        return [
            *("--faults", dynamodb.spec(), "--fault-seed", str(plan.seed)),
            *("--region", self.options.region),
        ]

    def client(self, service: str) -> Any:
        return boto3.client(
            service,
            endpoint_url=self.aws_endpoint,
            region_name=self.options.region,
            aws_access_key_id="local",
            aws_secret_access_key="local",  # noqa: S106 - moto accepts any credentials
            config=Config(retries={"mode": "standard", "max_attempts": 3}, max_pool_connections=32),
        )

    def _gemini_key_secret(self) -> str:
        """A secret with the stack-wide Gemini key: GEMINI_API_KEY if set, else a dummy for the fake."""
        value = os.environ.get("GEMINI_API_KEY") or FAKE_GEMINI_KEY
        secret = self.client("secretsmanager").create_secret(
            Name=f"{self.options.stack_name}-shared-gemini-key",
            Description="Stack-wide Gemini API key (local stack)",
            SecretString=value,
        )
        return secret["ARN"]

    def localize(self, value: str) -> str:
        """execute-api URLs of this template's APIs -> the local endpoints serving them."""
        model = self.model
        assert model is not None

        def replace(match: re.Match[str]) -> str:
            api, path = match.group("api"), match.group("path") or ""
            if model.rest_api is not None and api == model.rest_api.api_id:
                base, stage = self.urls["rest"], model.rest_api.stage
            elif model.websocket_api is not None and api == model.websocket_api.api_id:
                base = (
                    self.urls["ws"] if match.group("scheme") == "wss" else self.urls["management"]
                )
                stage = model.websocket_api.stage
            else:
                return match.group(0)
            if path == f"/{stage}" or path.startswith(f"/{stage}/"):
                path = path[len(stage) + 1 :]
            return base + path.rstrip("/")

        return _EXECUTE_API_URL.sub(replace, value)

    async def _prewarm(self) -> None:
        """One warm environment per function, started together: the first requests are fast."""
        names = list(self.pools)
        errors = await asyncio.gather(*(self.pools[name].prewarm() for name in names))
        for name, error in zip(names, errors, strict=True):
            if error is not None:
                log.warning(
                    "%s does not initialise yet (%s: %s); it is retried on each invocation",
                    name,
                    error.get("errorType"),
                    error.get("errorMessage"),
                )

    async def _serve(self, model: StackModel) -> None:
        apps: list[tuple[str, web.Application]] = []
        if model.rest_api is not None:
            apps.append(("rest", RestApi(model.rest_api, self.invoke).app()))
        else:
            apps.append(("rest", _empty_app("This template has no REST API")))
        if model.websocket_api is not None:
            self.websocket = WebSocketApi(
                model.websocket_api, self.invoke, faults=self.faults.get("management_api")
            )
            apps.append(("ws", self.websocket.app()))
        else:
            apps.append(("ws", _empty_app("This template has no WebSocket API")))
        for name, app in apps:
            runner = web.AppRunner(app, access_log=None, handle_signals=False, shutdown_timeout=1.0)
            await runner.setup()
            await web.SockSite(runner, self._sockets[name], shutdown_timeout=1.0).start()
            self.runners.append(runner)

    async def invoke(
        self, function: str, event: Any, *, request_id: str | None = None
    ) -> InvokeResult:
        return await self.pools[function].invoke(event, request_id=request_id)

    async def _watch_code(self) -> None:
        """Restart a function's environments when its code or layers change (like sam's
        warm containers with --warm-containers LAZY); template changes need a restart."""
        template_path = self.options.template.resolve()

        def fingerprints() -> tuple[dict[str, str], float]:
            cache: dict[Path, str] = {}
            result = {}
            for name, pool in self.pools.items():
                parts = []
                for path in [pool.spec.code_dir, *pool.spec.layer_paths]:
                    if path not in cache:
                        cache[path] = code_fingerprint([path])
                    parts.append(cache[path])
                result[name] = ",".join(parts)
            return result, template_path.stat().st_mtime

        known, template_mtime = await asyncio.to_thread(fingerprints)
        warned = False
        while True:
            await asyncio.sleep(1.0)
            current, mtime = await asyncio.to_thread(fingerprints)
            changed = [
                name for name, fingerprint in current.items() if fingerprint != known.get(name)
            ]
            for name in changed:
                self.pools[name].code_changed()
            if changed:
                log.info("code changed: %s get fresh environments from now on", ", ".join(changed))
            known = current
            if mtime != template_mtime and not warned:
                log.warning("%s changed: restart the local stack to apply it", template_path.name)
                warned = True

    # ------------------------------------------------------------------ stop
    async def stop(self) -> None:
        if self._watcher is not None:
            self._watcher.cancel()
        if self.web is not None:
            self.web.stop()
        for poller in self.pollers:
            await poller.stop()
        if self.websocket is not None:
            await self.websocket.close_all()
        for runner in self.runners:
            with contextlib.suppress(Exception):
                await runner.cleanup()
        for sock in self._sockets.values():
            sock.close()
        await asyncio.gather(
            *(pool.close() for pool in self.pools.values()), return_exceptions=True
        )
        if self.fake_gemini is not None:
            await asyncio.to_thread(self.fake_gemini.stop)
        if self.moto is not None and self.moto.returncode is None:
            assert self.moto.stdin is not None
            self.moto.stdin.close()  # it exits at end of input
            try:
                await asyncio.wait_for(self.moto.wait(), 5)
            except TimeoutError:
                self.moto.kill()
                await self.moto.wait()
        if self.options.ready_file is not None:
            with contextlib.suppress(FileNotFoundError):
                self.options.ready_file.unlink()
        for faults in self.faults.values():
            logging.getLogger("local.faults").info("%s", faults.summary())

    # ------------------------------------------------------------------ banner
    def _banner(self, seconds: float) -> None:
        model = self.model
        assert model is not None
        created = self.provisioned
        lines = [
            "",
            f"Local stack {self.options.stack_name!r} from {self.options.template.name} is up in {seconds:.1f} s "
            f"({', '.join(f'{name} {value:.1f} s' for name, value in self.timings.items())})",
            "",
        ]
        if model.rest_api is not None:
            lines.append(
                f"  REST API        {self.urls['rest']}   ({len(model.rest_api.routes)} route{'s' if len(model.rest_api.routes) != 1 else ''})"
            )
            for route in model.rest_api.routes:
                lines.append(f"      {route.method:<7} {route.path:<34} -> {route.function}")
        if model.websocket_api is not None:
            api = model.websocket_api
            lines.append(
                f"  WebSocket API   {self.urls['ws']}   (route selection {api.route_selection_expression})"
            )
            for key, route in api.routes.items():
                lines.append(f"      {key:<42} -> {route.function}")
            lines.append(
                f"  Management API  {self.urls['management']}/@connections/{{connection_id}}"
            )
        for source in model.sqs_sources:
            lines.append(
                f"  SQS source      {source.queue_logical_id} -> {source.function} "
                f"(batch {source.batch_size}{', FIFO' if source.fifo else ''}"
                f"{', partial batch failures' if source.report_batch_item_failures else ''})"
            )
        for stream in model.stream_sources:
            lines.append(
                f"  Stream source   {stream.table_logical_id} -> {stream.function} "
                f"(batch {stream.batch_size}, from {stream.starting_position}"
                f"{', partial batch failures' if stream.report_batch_item_failures else ''})"
            )
        lines.append(f"  AWS (moto)      {self.aws_endpoint}   (AWS SDKs only)")
        lines.append(f"  S3 (moto)       {self.s3_endpoint}   (uploads and downloads)")
        for kind, names in (
            ("DynamoDB", created.tables),
            ("SQS", created.queues),
            ("Secrets", created.secrets),
            ("KMS keys", created.keys),
            ("S3", created.buckets),
        ):
            if names:
                lines.append(f"      {kind:<10} {', '.join(names)}")
        if created.not_emulated:
            lines.append(f"      not emulated: {', '.join(sorted(created.not_emulated))}")
        if self.fake_gemini is not None:
            lines.append(
                f"  Gemini          fake server {self.fake_gemini.base_url} (set GEMINI_API_KEY for the real one)"
            )
        else:
            lines.append("  Gemini          the real API (GEMINI_API_KEY is set)")
        if self.options.faults is not None:
            plan = self.options.faults
            lines.append(
                f"  Faults          {plan.describe() or 'none'}   "
                f"(seed {plan.seed}: --fault-seed {plan.seed} repeats them)"
            )
        if self.outputs:
            lines.append("  Outputs")
            for name, value in self.outputs.items():
                lines.append(f"      {name:<30} {value}")
        rest, ws = self.urls["rest"], self.urls["ws"]
        routes = {
            (route.method, route.path)
            for route in (model.rest_api.routes if model.rest_api else [])
        }
        lines += ["", "Connect:"]
        if "web" in self.urls:
            lines.append(f"  open {self.urls['web']}   (the web client, in a browser)")
        if ("POST", "/auth/register") in routes:  # this project's chat: its client and first call
            chat_args = (
                ""
                if (rest, ws) == (_DEFAULT_REST, _DEFAULT_WS)
                else f" ARGS='--rest-url {rest} --ws-url {ws}'"
            )
            lines += [
                f"  make chat{chat_args}",
                f"  curl -s {rest}/auth/register -H 'Content-Type: application/json' \\",
                '       -d \'{"username": "alice", "password": "correct horse"}\'',
            ]
        elif model.rest_api is not None:
            lines.append(f"  curl -s {rest}{model.rest_api.routes[0].path}")
        if model.websocket_api is not None:
            lines.append(f"  .venv/bin/python -m websockets '{ws}?token=<access_token>'")
        lines += [
            f"  aws --endpoint-url {self.aws_endpoint} dynamodb scan --table-name <name>   (the data)",
            "",
            "Press Ctrl-C to stop.",
            "",
        ]
        print("\n".join(lines), flush=True)


_DEFAULT_REST = "http://127.0.0.1:3000"
_DEFAULT_WS = "ws://127.0.0.1:3001"


def _empty_app(message: str) -> web.Application:
    async def handler(request: web.Request) -> web.Response:
        return web.json_response({"message": message}, status=404)

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", handler)
    return app


_COLOURS = ["36", "33", "35", "32", "34", "31"]
_colour_of: dict[str, str] = {}


def _function_log_line(function: str, line: str) -> None:
    if sys.stdout.isatty():
        colour = _colour_of.setdefault(function, _COLOURS[len(_colour_of) % len(_COLOURS)])
        function_log.info("\033[%sm%-18s\033[0m | %s", colour, function, line)
    else:
        function_log.info("%-18s | %s", function, line)


# ---------------------------------------------------------------------- command line
def parse_overrides(items: list[str]) -> dict[str, str]:
    """`Key=Value` or SAM's `ParameterKey=Key,ParameterValue=Value`."""
    overrides: dict[str, str] = {}
    for item in items:
        for part in item.split() if " " in item and "ParameterKey=" not in item else [item]:
            match = re.fullmatch(r"ParameterKey=([^,]+),ParameterValue=(.*)", part)
            if match:
                overrides[match.group(1)] = match.group(2)
            elif "=" in part:
                key, value = part.split("=", 1)
                overrides[key] = value
            else:
                raise SystemExit(f"error: bad parameter override {part!r} (expected Key=Value)")
    return overrides


def parse_args(argv: list[str] | None = None) -> Options:
    env = os.environ
    parser = argparse.ArgumentParser(
        prog="python -m local",
        description="Run the stack of template.yaml locally: REST and WebSocket APIs, functions, "
        "queues, tables, secrets and keys (moto), and a fake Gemini.",
    )
    parser.add_argument(
        "--template", type=Path, default=TEMPLATE_PATH, help="SAM template (default: template.yaml)"
    )
    parser.add_argument(
        "--host",
        default=env.get("LOCAL_HOST", "127.0.0.1"),
        help="address to serve on [LOCAL_HOST]",
    )
    parser.add_argument(
        "--rest-port",
        type=int,
        default=int(env.get("LOCAL_REST_PORT", 3000)),
        help="REST API port [LOCAL_REST_PORT] (0: any free port)",
    )
    parser.add_argument(
        "--ws-port",
        type=int,
        default=int(env.get("LOCAL_WS_PORT", 3001)),
        help="WebSocket API port [LOCAL_WS_PORT]",
    )
    parser.add_argument(
        "--aws-port",
        type=int,
        default=int(env.get("LOCAL_AWS_PORT", 3002)),
        help="moto's port for the AWS APIs [LOCAL_AWS_PORT]",
    )
    parser.add_argument(
        "--s3-port",
        type=int,
        default=int(env["LOCAL_S3_PORT"]) if "LOCAL_S3_PORT" in env else None,
        help="moto's port for S3, its own origin [LOCAL_S3_PORT] (default 3004, or any free "
        "port when --aws-port is 0)",
    )
    parser.add_argument("--region", default=env.get("AWS_DEFAULT_REGION", "us-east-1"))
    parser.add_argument(
        "--stack-name", default="chat-local", help="prefix of the local resources' names"
    )
    parser.add_argument(
        "--parameter-overrides",
        nargs="+",
        default=[],
        metavar="KEY=VALUE",
        help="template parameters, e.g. BcryptCost=4 LogLevel=DEBUG",
    )
    parser.add_argument(
        "--concurrency",
        type=int,
        default=int(env.get("LOCAL_CONCURRENCY", 8)),
        help="worker processes per function at most (default 8)",
    )
    parser.add_argument(
        "--no-prewarm", action="store_true", help="start no environment before its first invocation"
    )
    parser.add_argument(
        "--no-reload", action="store_true", help="do not restart environments when code changes"
    )
    parser.add_argument("--ready-file", type=Path, help="write the URLs there as JSON once serving")
    parser.add_argument(
        "--web-port",
        type=int,
        help="serve the web client (web/dist) on this port (0: any free port)",
    )
    parser.add_argument(
        "--faults",
        default=env.get("LOCAL_FAULTS", ""),
        metavar="SERVICE=RATE,…",
        help="make that share of calls fail as the service fails them [LOCAL_FAULTS], e.g. "
        "dynamodb=0.05,management_api=0.05,sqs=0.02,gemini=0.05 (docs/local-stack.md)",
    )
    parser.add_argument(
        "--fault-seed",
        type=int,
        default=int(env["LOCAL_FAULT_SEED"]) if env.get("LOCAL_FAULT_SEED") else None,
        help="seed of the faults [LOCAL_FAULT_SEED] (default: a random one, printed)",
    )
    parser.add_argument(
        "-q", "--quiet", action="store_true", help="hide the functions' own log lines"
    )
    args = parser.parse_args(argv)
    faults = None
    if args.faults:
        seed = args.fault_seed if args.fault_seed is not None else _random_seed()
        try:
            faults = FaultPlan.parse(args.faults, seed)
        except FaultSpecError as exc:
            parser.error(f"--faults: {exc}")
    options = Options(
        template=args.template.resolve(),
        host=args.host,
        rest_port=args.rest_port,
        ws_port=args.ws_port,
        aws_port=args.aws_port,
        s3_port=args.s3_port if args.s3_port is not None else (3004 if args.aws_port else 0),
        region=args.region,
        stack_name=args.stack_name,
        parameter_overrides=parse_overrides(args.parameter_overrides),
        concurrency=args.concurrency,
        prewarm=not args.no_prewarm,
        reload=not args.no_reload,
        ready_file=args.ready_file,
        web_port=args.web_port,
        faults=faults,
    )
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(message)s", datefmt="%H:%M:%S", stream=sys.stdout
    )
    if args.quiet:
        function_log.setLevel(logging.WARNING)
    return options


def _random_seed() -> int:
    return int.from_bytes(os.urandom(3), "big")


async def serve(options: Options) -> None:
    stack = LocalStack(options)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    first_signal_at: float | None = None

    def on_signal() -> None:
        nonlocal first_signal_at
        now = time.monotonic()
        if first_signal_at is None:
            first_signal_at = now
            stop.set()
        elif now - first_signal_at > 1.0:  # not the same Ctrl-C delivered twice (group + process)
            print("\nforced exit", file=sys.stderr, flush=True)
            os._exit(130)  # workers die with us (PR_SET_PDEATHSIG), moto at end of its input

    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, on_signal)
    try:
        start = asyncio.create_task(stack.start())
        stopped = asyncio.create_task(stop.wait())
        await asyncio.wait({start, stopped}, return_when=asyncio.FIRST_COMPLETED)
        if start.done():
            start.result()  # raises if starting failed
            await stopped
        else:
            start.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await start
        print("\nStopping …", flush=True)
    finally:
        await stack.stop()
    print("Stopped.", flush=True)


def main(argv: list[str] | None = None) -> None:
    options = parse_args(argv)
    try:
        asyncio.run(serve(options))
    except (TemplateError, StartupError) as exc:
        raise SystemExit(f"error: {exc}") from None
