"""Service metrics kept as counters in DynamoDB, so /metrics is true whichever instance is scraped and
after restarts; the same facts go to CloudWatch as EMF through Powertools.

Items: PK=`METRIC#{name}`, SK=`label=value,…` (sorted). Counters hold `value`; histograms hold `count`,
`sum` and one count per bucket (`b0`…`bN`, the last being +Inf).
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterator
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit, single_metric
from boto3.dynamodb.conditions import Key
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, Metric

from pytoon.aws import TableRepository, dynamo_number

NAMESPACE = "Pytoon"

COUNTERS: dict[str, tuple[str, tuple[str, ...]]] = {
    "pytoon_render_jobs_total": ("Jobs submitted", ("archetype", "preset")),
    "pytoon_render_success_total": ("Successful renders", ("archetype",)),
    "pytoon_render_failure_total": ("Failed renders", ("archetype", "reason")),
    # engine: the engine that was asked for; reason: a short code (the full reason is on the job).
    "pytoon_fallback_total": ("Fallback events", ("type", "engine", "reason")),
    "pytoon_v2_jobs_total": ("V2 jobs submitted", ("preset",)),
    "pytoon_runs_total": ("Production runs started", ("project",)),
    # outcome: completed, rejected or failed (with the step it failed at).
    "pytoon_run_outcomes_total": ("Production runs ended", ("project", "outcome", "step")),
}
HISTOGRAMS: dict[str, tuple[str, tuple[str, ...], tuple[float, ...]]] = {
    "pytoon_segment_render_seconds": ("Segment render time", ("engine",), (1, 5, 10, 20, 30, 60, 120, 300)),
    "pytoon_v2_scene_render_seconds": ("V2 scene render time", ("engine",), (1, 5, 10, 20, 30, 60, 120, 300)),
    "pytoon_job_total_seconds": ("Total job time", ("archetype",), (10, 30, 60, 120, 300, 600)),
    # One attempt of an external engine at a scene's clip, from submit to its outcome.
    "pytoon_engine_generation_seconds": (
        "External engine generation time per attempt",
        ("engine", "outcome"),
        (5, 15, 30, 60, 120, 300, 600),
    ),
}
QUEUE_DEPTH = "pytoon_queue_depth"


def _sort_key(labels: dict[str, str]) -> str:
    return ",".join(f"{k}={labels[k]}" for k in sorted(labels)) or "-"


def _labels(sort_key: str) -> dict[str, str]:
    return {} if sort_key == "-" else dict(part.split("=", 1) for part in sort_key.split(","))


def _emit(name: str, value: float, unit: MetricUnit, labels: dict[str, str]) -> None:
    # Local mode turns EMF off (it would print JSON to the terminal); the DynamoDB counters still count.
    if os.environ.get("POWERTOOLS_METRICS_DISABLED", "").lower() == "true":
        return
    with single_metric(name=name, unit=unit, value=value, namespace=NAMESPACE) as metric:
        for key, label in labels.items():
            metric.add_dimension(name=key, value=label)


class MetricsStore(TableRepository):
    def increment(self, name: str, **labels: str) -> None:
        _help, names = COUNTERS[name]
        assert set(labels) == set(names), f"{name} takes labels {names}"
        self._table.update_item(
            Key={"PK": f"METRIC#{name}", "SK": _sort_key(labels)},
            UpdateExpression="ADD #v :one",
            ExpressionAttributeNames={"#v": "value"},
            ExpressionAttributeValues={":one": 1},
        )
        _emit(name, 1, MetricUnit.Count, labels)

    def observe(self, name: str, value: float, **labels: str) -> None:
        _help, names, buckets = HISTOGRAMS[name]
        assert set(labels) == set(names), f"{name} takes labels {names}"
        bucket = next((i for i, bound in enumerate(buckets) if value <= bound), len(buckets))
        self._table.update_item(
            Key={"PK": f"METRIC#{name}", "SK": _sort_key(labels)},
            UpdateExpression="ADD #c :one, #s :value, #b :one",
            ExpressionAttributeNames={"#c": "count", "#s": "sum", "#b": f"b{bucket}"},
            ExpressionAttributeValues={":one": 1, ":value": dynamo_number(value)},
        )
        _emit(name, value, MetricUnit.Seconds, labels)

    def _series(self, name: str) -> Iterator[tuple[dict[str, str], dict[str, Any]]]:
        for item in self._query_all(KeyConditionExpression=Key("PK").eq(f"METRIC#{name}"), ConsistentRead=True):
            yield _labels(item["SK"]), item

    def collect(self) -> Iterator[Metric]:
        """prometheus_client collector protocol: build every family from the stored counters."""
        totals: dict[str, float] = {}
        for name, (help_text, label_names) in COUNTERS.items():
            family = CounterMetricFamily(name.removesuffix("_total"), help_text, labels=label_names)
            total = 0.0
            for labels, item in self._series(name):
                family.add_metric([labels.get(n, "") for n in label_names], item.get("value", 0))
                total += item.get("value", 0)
            totals[name] = total
            yield family
        for name, (help_text, label_names, bounds) in HISTOGRAMS.items():
            family = HistogramMetricFamily(name, help_text, labels=label_names)
            for labels, item in self._series(name):
                cumulative, running = [], 0
                for i, bound in enumerate([*bounds, math.inf]):
                    running += item.get(f"b{i}", 0)
                    cumulative.append(("+Inf" if bound == math.inf else str(float(bound)), running))
                family.add_metric([labels.get(n, "") for n in label_names], cumulative, item.get("sum", 0.0))
            yield family
        depth = (
            totals["pytoon_render_jobs_total"]
            - totals["pytoon_render_success_total"]
            - totals["pytoon_render_failure_total"]
        )
        yield GaugeMetricFamily(QUEUE_DEPTH, "Jobs submitted and not yet finished", value=max(0.0, depth))
