"""One Logger and Tracer for every function, created once per process (DESIGN §9).

Metrics go through `pytoon.aws.metrics.MetricsStore`, which keeps the DynamoDB counters behind /metrics and
emits the same facts as CloudWatch EMF (Powertools single_metric, one dimension set per label set).
"""

from aws_lambda_powertools import Logger, Tracer

logger = Logger(service="pytoon")
tracer = Tracer(service="pytoon")
