"""One Logger and Tracer for every function, created once per process (DESIGN §9).

Metrics go through `pytoon.aws.metrics.MetricsStore`, which keeps the DynamoDB counters behind /metrics and
emits the same facts as CloudWatch EMF (Powertools single_metric, one dimension set per label set).
"""

from aws_lambda_powertools import Logger, Tracer

logger = Logger(service="pytoon")
# botocore is the only library these functions call out through that X-Ray can trace; patching every
# supported library (the default) imports each of them at every cold start.
tracer = Tracer(service="pytoon", patch_modules=["botocore"])
