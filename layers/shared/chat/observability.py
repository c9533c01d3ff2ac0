"""One logger, tracer and metrics object for the whole package (Powertools)."""

import os

from aws_lambda_powertools import Logger, Metrics, Tracer

logger = Logger()
tracer = Tracer()
metrics = Metrics()
# Every metric carries the function that emitted it (template.yaml names each one), besides
# `service`, so that dashboards and alarms can split or pick by function.
if _function := os.environ.get("POWERTOOLS_METRICS_FUNCTION_NAME"):
    metrics.set_default_dimensions(function=_function)
