"""One logger, tracer and metrics object for the whole package (Powertools), each passing
through chat.redaction: no log line, metric document or trace segment shows a secret."""

import os

from aws_lambda_powertools import Logger, Metrics, Tracer

from chat import redaction

logger = Logger()
tracer = Tracer()
metrics = Metrics()
# Every metric carries the function that emitted it (template.yaml names each one), besides
# `service`, so that dashboards and alarms can split or pick by function.
if _function := os.environ.get("POWERTOOLS_METRICS_FUNCTION_NAME"):
    metrics.set_default_dimensions(function=_function)

redaction.install_record_factory()
redaction.install_on_logger(logger._logger, logger.handlers)
metrics.provider.serialize_metric_set = redaction.redacting(metrics.provider.serialize_metric_set)


def _redact_traces() -> None:
    """Every X-Ray segment (metadata, annotations, exceptions) is redacted as it is sent."""
    from aws_xray_sdk.core import xray_recorder
    from aws_xray_sdk.core.emitters.udp_emitter import UDPEmitter

    emitter = xray_recorder.emitter
    if type(emitter) is UDPEmitter:  # keep its socket and daemon address
        emitter.__class__ = redaction.redacting_emitter(UDPEmitter)


_redact_traces()
