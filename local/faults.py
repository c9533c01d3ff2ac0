"""Faults in the local stack, injected where the real services fail: on the wire.

`python -m local --faults dynamodb=0.05,management_api=0.05,sqs=0.02,gemini=0.05` makes
that share of each service's calls fail the way AWS (or Gemini) fails them, so the
functions' own code (botocore's retries, the fan-out, the bot worker) meets real HTTP error
responses, duplicate deliveries and broken streams. Nothing of the functions is patched.

| service | where | kinds (share of the service's faults) |
|---|---|---|
| `dynamodb` | in front of moto (local.aws_server), data-plane calls only | `throttle` 70 %: HTTP 400 `ProvisionedThroughputExceededException` or `ThrottlingException` (a transaction: also `TransactionCanceledException` with a `ThrottlingError` reason); `error` 20 %: HTTP 500 `InternalServerError`, nothing applied; `lost` 10 %: the call is applied, then its answer is an HTTP 500 `InternalServerError` (as when DynamoDB's answer is lost) |
| `management_api` | the local management API (`/@connections`) | `throttle` 60 %: 429 `LimitExceededException`; `error` 30 %: 500 `InternalServerErrorException`; `gone` 10 %: the socket is dropped (the client sees it close) and the call answers 410 `GoneException` |
| `sqs` | the SQS event source (Lambda's poller) | `duplicate` 50 %: the batch is invoked twice, as Lambda's at-least-once delivery may; `delay` 50 %: the batch waits 0.5–5 s before its invocation |
| `gemini` | the fake Gemini server | `429` 30 % (`RESOURCE_EXHAUSTED` with a `RetryInfo` of 1–20 s), `500` 15 %, `503` 25 %, `cut` 30 %: the stream breaks off after some events |

`service=rate` spreads the rate over the service's kinds as above; `service.kind=rate`
sets one kind (`--faults dynamodb.lost=0.01,gemini.cut=0.2`). Rates are shares of calls
(0–1, or a percentage: `5%`).

Seeded and reproducible: every service numbers its calls in the order they reach it, and
call n's fate is a pure function of (seed, service, n) (a hash, no shared random state).
So the same seed and the same sequence of calls to a service give the same faults, on the
same calls. Under concurrency, which request is the service's n-th call varies from run
to run: the faults fall on the same call numbers, with the same kinds, but may hit other
requests. Each injected fault is logged (`fault dynamodb call 123 throttle: …`), and a summary
per service when the stack stops.
"""

from __future__ import annotations

import hashlib
import json
import logging
import threading
import uuid
import zlib
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

log = logging.getLogger("local.faults")

# Each service's fault kinds and the share of its faults each one takes.
KINDS: dict[str, dict[str, float]] = {
    "dynamodb": {"throttle": 0.7, "error": 0.2, "lost": 0.1},
    "management_api": {"throttle": 0.6, "error": 0.3, "gone": 0.1},
    "sqs": {"duplicate": 0.5, "delay": 0.5},
    "gemini": {"429": 0.3, "500": 0.15, "503": 0.25, "cut": 0.3},
}


class FaultSpecError(ValueError):
    """A `--faults` specification that cannot be read."""


def _uniform(seed: int, service: str, call: int, salt: int) -> float:
    """A number in [0, 1) that depends only on its arguments."""
    digest = hashlib.blake2b(f"{seed}:{service}:{call}:{salt}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2**64


@dataclass(frozen=True)
class Fault:
    """One injected fault: what the call `call` of `service` gets. `variant` is a second
    seeded number in [0, 1) for the fault's details (which throttle, how long a delay)."""

    service: str
    kind: str
    call: int
    variant: float

    def pick(self, choices: list[Any]) -> Any:
        return choices[min(len(choices) - 1, int(self.variant * len(choices)))]

    def log(self, what: str) -> None:
        log.info("fault %s call %d %s: %s", self.service, self.call, self.kind, what)


@dataclass
class Faults:
    """One service's faults: `next()` for each call it serves (thread-safe)."""

    service: str
    rates: dict[str, float]
    seed: int
    calls: int = 0
    injected: Counter[str] = field(default_factory=Counter)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def next(self) -> Fault | None:
        """The fault for the service's next call, or None: it answers normally."""
        with self._lock:
            call = self.calls
            self.calls += 1
        draw = _uniform(self.seed, self.service, call, 0)
        threshold = 0.0
        for kind, rate in self.rates.items():
            threshold += rate
            if draw < threshold:
                with self._lock:
                    self.injected[kind] += 1
                return Fault(self.service, kind, call, _uniform(self.seed, self.service, call, 1))
        return None

    def summary(self) -> str:
        """`faults: dynamodb 61/1234 calls (throttle 43, error 12, lost 6)`"""
        with self._lock:
            total = sum(self.injected.values())
            kinds = ", ".join(f"{kind} {self.injected[kind]}" for kind in self.rates)
            return f"faults: {self.service} {total}/{self.calls} calls ({kinds})"


@dataclass(frozen=True)
class FaultPlan:
    """What `--faults` and `--fault-seed` ask for: each service's rate per kind."""

    rates: dict[str, dict[str, float]]
    seed: int

    @classmethod
    def parse(cls, spec: str, seed: int) -> FaultPlan:
        rates: dict[str, dict[str, float]] = {}
        for item in filter(None, (part.strip() for part in spec.split(","))):
            name, equals, value = item.partition("=")
            service, _, kind = name.strip().partition(".")
            if not equals or service not in KINDS:
                raise FaultSpecError(
                    f"bad fault {item!r}: expected SERVICE=RATE or SERVICE.KIND=RATE, "
                    f"SERVICE one of {', '.join(KINDS)}"
                )
            if kind and kind not in KINDS[service]:
                raise FaultSpecError(
                    f"unknown {service} fault {kind!r} (one of {', '.join(KINDS[service])})"
                )
            rate = _rate(value.strip(), item)
            service_rates = rates.setdefault(service, dict.fromkeys(KINDS[service], 0.0))
            for each, share in KINDS[service].items():
                if not kind or each == kind:
                    service_rates[each] += rate * (share if not kind else 1.0)
        for service, service_rates in rates.items():
            if sum(service_rates.values()) > 1.0 + 1e-9:
                raise FaultSpecError(f"the {service} faults add up to more than every call")
        kept = {s: {k: r for k, r in kinds.items() if r > 0} for s, kinds in rates.items()}
        return cls({service: kinds for service, kinds in kept.items() if kinds}, seed)

    def spec(self) -> str:
        """The plan as a `--faults` value, kind by kind (to hand to a child process)."""
        return ",".join(
            f"{service}.{kind}={rate!r}"
            for service, kinds in self.rates.items()
            for kind, rate in kinds.items()
        )

    def describe(self) -> str:
        """`dynamodb 5% (throttle 3.5%, error 1%, lost 0.5%); …` for the banner."""
        return "; ".join(
            f"{service} {_percent(sum(kinds.values()))} ("
            + ", ".join(f"{kind} {_percent(rate)}" for kind, rate in kinds.items())
            + ")"
            for service, kinds in self.rates.items()
        )

    def faults(self, service: str) -> Faults | None:
        """The service's faults, or None when the plan has none for it."""
        kinds = self.rates.get(service)
        return Faults(service, dict(kinds), self.seed) if kinds else None


def _rate(text: str, item: str) -> float:
    try:
        rate = float(text[:-1]) / 100 if text.endswith("%") else float(text)
    except ValueError:
        raise FaultSpecError(f"bad rate in {item!r}: a share of calls, 0.05 or 5%") from None
    if not 0.0 <= rate <= 1.0:
        raise FaultSpecError(f"bad rate in {item!r}: between 0 and 1 (or 0% and 100%)")
    return rate


def _percent(rate: float) -> str:
    return f"{rate * 100:.3g}%"


# ---------------------------------------------------------------------- DynamoDB
DYNAMODB_TARGET = "DynamoDB_20120810"
# The operations on items (moto_dynamodb serialises these), and PartiQL's, which fail alike.
DYNAMODB_ITEM_OPERATIONS = frozenset(
    {
        "GetItem",
        "PutItem",
        "UpdateItem",
        "DeleteItem",
        "Query",
        "Scan",
        "BatchGetItem",
        "BatchWriteItem",
        "TransactGetItems",
        "TransactWriteItems",
    }
)
_DATA_PLANE = DYNAMODB_ITEM_OPERATIONS | {
    "ExecuteStatement",
    "BatchExecuteStatement",
    "ExecuteTransaction",
}
_READS = frozenset({"GetItem", "Query", "Scan", "BatchGetItem", "TransactGetItems"})
_TRANSACTIONS = frozenset({"TransactGetItems", "TransactWriteItems"})
_DYNAMODB_ERRORS = "com.amazonaws.dynamodb.v20120810#"
ACCOUNT = "123456789012"  # moto's default account: the tables' ARNs name it


class DynamoDBFaults:
    """WSGI middleware in front of moto: DynamoDB's data-plane calls fail as DynamoDB's do.
    Control-plane calls (CreateTable, DescribeTable …) are never faulted, so the stack
    always provisions."""

    def __init__(self, app: Callable[..., Any], faults: Faults, region: str = "us-east-1"):
        self.app = app
        self.faults = faults
        self.region = region

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        target, _, operation = environ.get("HTTP_X_AMZ_TARGET", "").partition(".")
        if target != DYNAMODB_TARGET or operation not in _DATA_PLANE:
            return self.app(environ, start_response)
        fault = self.faults.next()
        if fault is None:
            return self.app(environ, start_response)
        if fault.kind == "lost":
            status = _run_and_discard(self.app, environ)
            fault.log(f"{operation} applied ({status}), answered 500 InternalServerError")
            return _dynamodb_error(start_response, 500, "InternalServerError", _INTERNAL)
        if fault.kind == "error":
            fault.log(f"{operation} -> 500 InternalServerError")
            return _dynamodb_error(start_response, 500, "InternalServerError", _INTERNAL)
        request = _read_json(environ)
        status, body = self.throttle(fault, operation, request)
        fault.log(f"{operation} -> {status} {body['__type'].rpartition('#')[2]}")
        return _send_json(start_response, status, body)

    def throttle(
        self, fault: Fault, operation: str, request: dict[str, Any]
    ) -> tuple[int, dict[str, Any]]:
        """The throttling error DynamoDB gives this operation (the fault's variant picks one)."""
        tables = _tables_of(request)
        access = "Read" if operation in _READS else "Write"
        if operation in _TRANSACTIONS and fault.variant < 0.5:
            items = request.get("TransactItems") or [{}]
            throttled = int(fault.variant * 2 * len(items)) % len(items)
            reasons = [
                {"Code": "ThrottlingError", "Message": _TRANSACTION_THROTTLED}
                if index == throttled
                else {"Code": "None"}
                for index in range(len(items))
            ]
            codes = ", ".join(reason["Code"] for reason in reasons)
            return 400, {
                "__type": _DYNAMODB_ERRORS + "TransactionCanceledException",
                "Message": f"Transaction cancelled, please refer cancellation reasons for "
                f"specific reasons [{codes}]",
                "CancellationReasons": reasons,
            }
        if fault.variant < 0.75:  # a hot partition: either capacity mode
            error_type, message, limit, reasons = (
                _DYNAMODB_ERRORS + "ProvisionedThroughputExceededException",
                "The level of configured provisioned throughput for the table was exceeded. "
                "Consider increasing your provisioning level with the UpdateTable API.",
                "KeyRangeThroughputExceeded",
                "ThrottlingReasons",
            )
        else:  # an on-demand table's maximum throughput (its member is spelt so)
            error_type, message, limit, reasons = (
                "com.amazon.coral.availability#ThrottlingException",
                "Rate of requests exceeds the allowed throughput.",
                "MaxOnDemandThroughputExceeded",
                "throttlingReasons",
            )
        return 400, {
            "__type": error_type,
            "message": message,
            reasons: [
                {
                    "reason": f"Table{access}{limit}",
                    "resource": f"arn:aws:dynamodb:{self.region}:{ACCOUNT}:table/{table}",
                }
                for table in tables[:1]
            ],
        }


_INTERNAL = "Internal server error"
_TRANSACTION_THROTTLED = (
    "Throughput exceeds the current capacity of your table or index. DynamoDB is "
    "automatically scaling your table or index so please try again shortly."
)


def _tables_of(request: dict[str, Any]) -> list[str]:
    if isinstance(request.get("TableName"), str):
        return [request["TableName"]]
    names = list(request.get("RequestItems") or {})
    for item in request.get("TransactItems") or []:
        for operation in item.values() if isinstance(item, dict) else []:
            if isinstance(operation, dict) and isinstance(operation.get("TableName"), str):
                names.append(operation["TableName"])
    return list(dict.fromkeys(names)) or ["unknown"]


def _read_json(environ: dict[str, Any]) -> dict[str, Any]:
    try:
        length = int(environ.get("CONTENT_LENGTH") or 0)
        body = json.loads(environ["wsgi.input"].read(length) or b"{}")
    except (ValueError, KeyError):
        return {}
    return body if isinstance(body, dict) else {}


def _run_and_discard(app: Callable[..., Any], environ: dict[str, Any]) -> str:
    """Let moto apply the call; its answer is lost on the way back. Its status, for the log."""
    seen: list[str] = []

    def start_response(status: str, headers: list[tuple[str, str]], *rest: Any) -> Any:
        seen.append(status)
        return lambda data: None

    result = app(environ, start_response)
    try:
        for _ in result:
            pass
    finally:
        close = getattr(result, "close", None)
        if close is not None:
            close()
    return seen[0].split()[0] if seen else "?"


def _dynamodb_error(
    start_response: Callable[..., Any], status: int, code: str, message: str
) -> Iterable[bytes]:
    return _send_json(
        start_response, status, {"__type": _DYNAMODB_ERRORS + code, "message": message}
    )


def _send_json(
    start_response: Callable[..., Any], status: int, body: dict[str, Any]
) -> Iterable[bytes]:
    """DynamoDB's error answer: JSON 1.0, a request id and the CRC32 botocore checks."""
    data = json.dumps(body).encode()
    reason = {400: "Bad Request", 500: "Internal Server Error"}[status]
    start_response(
        f"{status} {reason}",
        [
            ("Content-Type", "application/x-amz-json-1.0"),
            ("Content-Length", str(len(data))),
            ("x-amzn-RequestId", uuid.uuid4().hex.upper()),
            ("x-amz-crc32", str(zlib.crc32(data) & 0xFFFFFFFF)),
        ],
    )
    return [data]


# ---------------------------------------------------------------------- management API
def management_api_error(fault: Fault) -> tuple[int, str, str]:
    """(status, x-amzn-ErrorType, message) of a management API fault."""
    if fault.kind == "throttle":
        return 429, "LimitExceededException", "Rate exceeded"
    if fault.kind == "error":
        return 500, "InternalServerErrorException", "Internal server error"
    return 410, "GoneException", ""
