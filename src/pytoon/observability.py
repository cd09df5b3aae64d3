"""One Logger, Tracer and Metrics for every function, created once per process (DESIGN §9)."""

from aws_lambda_powertools import Logger, Metrics, Tracer

logger = Logger(service="pytoon")
tracer = Tracer(service="pytoon")
metrics = Metrics(namespace="Pytoon", service="pytoon")
