"""One logger, tracer and metrics object for the whole package (Powertools), each passing
through chat.redaction: no log line, metric document or trace segment shows a secret.

The tracer is created only by the function that asks for it (`tracer()`: the bot worker).
The REST and WebSocket handlers have none: Lambda's active tracing records their segments,
and the X-Ray SDK would cost them 50-80 ms per cold start (bench/cold_start.py). The
worker's patches botocore only. `capture_method` traces a shared function only in a
process that has a tracer.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

from aws_lambda_powertools import Logger, Metrics

from chat import redaction

if TYPE_CHECKING:
    from aws_lambda_powertools import Tracer

logger = Logger()
metrics = Metrics()
# Every metric carries the function that emitted it (template.yaml names each one), besides
# `service`, so that dashboards and alarms can split or pick by function.
if _function := os.environ.get("POWERTOOLS_METRICS_FUNCTION_NAME"):
    metrics.set_default_dimensions(function=_function)

redaction.install_record_factory()
redaction.install_on_logger(logger._logger, logger.handlers)
metrics.provider.serialize_metric_set = redaction.redacting(  # type: ignore[method-assign]
    metrics.provider.serialize_metric_set
)

_tracer: Tracer | None = None


def tracer() -> Tracer:
    """The process's Powertools tracer, created (and its segments redacted) on first call."""
    global _tracer
    if _tracer is None:
        from aws_lambda_powertools import Tracer

        # botocore only: every AWS call. The X-Ray SDK's other patches (requests, httplib,
        # sqlite3...) trace nothing of ours and their imports cost the cold start ~30 ms;
        # the pushes are inside the fan-out's subsegment (`capture_method`).
        _tracer = Tracer(patch_modules=("botocore",))
        _redact_traces()
    return _tracer


F = TypeVar("F", bound=Callable[..., Any])


def capture_method(function: F) -> F:
    """`tracer().capture_method(capture_response=False)` when the process has a tracer; the
    plain function otherwise. Decided at each call, so the import order does not matter."""
    traced: Callable[..., Any] | None = None

    @functools.wraps(function)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        nonlocal traced
        if _tracer is None:
            return function(*args, **kwargs)
        if traced is None:
            traced = _tracer.capture_method(capture_response=False)(function)
        return traced(*args, **kwargs)

    return wrapper  # type: ignore[return-value]


def annotate(**annotations: str) -> None:
    """X-Ray annotations (searchable) on the current trace, in a process with a tracer."""
    if _tracer is None:
        return
    for key, value in annotations.items():
        _tracer.put_annotation(key=key, value=value)


def _redact_traces() -> None:
    """Every X-Ray segment (metadata, annotations, exceptions) is redacted as it is sent."""
    from aws_xray_sdk.core import xray_recorder
    from aws_xray_sdk.core.emitters.udp_emitter import UDPEmitter

    emitter = xray_recorder.emitter
    if type(emitter) is UDPEmitter:  # keep its socket and daemon address
        emitter.__class__ = redaction.redacting_emitter(UDPEmitter)
