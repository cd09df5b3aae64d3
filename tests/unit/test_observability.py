"""Tracing: X-Ray in Lambda; outside it (local mode, tests) handlers run untraced without loading the X-Ray SDK."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

_PROBE = """
import json, sys
from pytoon.observability import tracer

@tracer.capture_lambda_handler(capture_response=False)
def handler(event, context):
    return {"doubled": event["n"] * 2}

print(json.dumps({
    "result": handler({"n": 21}, None),
    "provider": type(tracer.provider).__module__,
    "xray_core_loaded": "aws_xray_sdk.core" in sys.modules,
}))
"""


def _probe(**env: str) -> dict:
    clean = {k: v for k, v in os.environ.items() if k not in ("LAMBDA_TASK_ROOT", "POWERTOOLS_TRACE_DISABLED")}
    clean |= {"AWS_DEFAULT_REGION": "us-east-1", **env}
    out = subprocess.run(
        [sys.executable, "-c", _PROBE], cwd=ROOT, env=clean, capture_output=True, text=True, check=True
    ).stdout
    return json.loads(out.strip().splitlines()[-1])


def test_outside_lambda_handlers_run_untraced_without_the_xray_sdk() -> None:
    probe = _probe()
    assert probe["result"] == {"doubled": 42}
    assert probe["provider"] == "pytoon.observability"
    assert probe["xray_core_loaded"] is False


def test_in_lambda_the_xray_recorder_traces_unless_turned_off() -> None:
    traced = _probe(LAMBDA_TASK_ROOT="/var/task")
    assert traced["provider"].startswith("aws_xray_sdk") and traced["xray_core_loaded"] is True
    assert _probe(LAMBDA_TASK_ROOT="/var/task", POWERTOOLS_TRACE_DISABLED="true")["provider"] == "pytoon.observability"
