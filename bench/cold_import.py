"""CPU time of the API Lambda's cold import: `import functions.api.app` in a fresh interpreter.

    .venv/bin/python bench/cold_import.py [--runs N]

Each run is a new process with the API function's environment (as template.yaml sets it, with placeholder
resource names); the figure is that process's user+system CPU from its start to the end of the import, which
it reads itself (getrusage(RUSAGE_SELF)): Lambda never shuts the interpreter down during a cold start, so its
teardown is not counted. Bytecode is compiled once beforehand into a private cache, so the figure is importing,
not compiling (a Lambda package that ships without .pyc files pays compilation on top). Prints the median and
the spread.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
API_ENV = {
    "PYTOON_TABLE_NAME": "pytoon-jobs",
    "PYTOON_BUCKET_NAME": "pytoon-artifacts",
    "PYTOON_STATE_MACHINE_ARN": "arn:aws:states:us-east-1:123456789012:stateMachine:RenderJob",
    "PYTOON_WORK_DIR": "/tmp/pytoon",
    "POWERTOOLS_SERVICE_NAME": "pytoon",
    "POWERTOOLS_METRICS_NAMESPACE": "Pytoon",
    "AWS_REGION": "us-east-1",
    "AWS_DEFAULT_REGION": "us-east-1",
    # As in Lambda: tracing is on there, so the X-Ray SDK is part of the cold import.
    "LAMBDA_TASK_ROOT": str(ROOT / "functions" / "api"),
}

_IMPORT_AND_REPORT_CPU = (
    "import resource\n"
    "import functions.api.app\n"
    "usage = resource.getrusage(resource.RUSAGE_SELF)\n"
    "print(usage.ru_utime + usage.ru_stime)\n"
)


def cold_import_cpu_seconds(runs: int = 5) -> list[float]:
    """CPU seconds of `runs` fresh `import functions.api.app` processes (after one warm-up that compiles)."""
    with tempfile.TemporaryDirectory() as cache:
        env = {k: v for k, v in os.environ.items() if k not in ("API_KEY", "API_KEYS", "PYTHONDONTWRITEBYTECODE")}
        env |= API_ENV | {"PYTHONPYCACHEPREFIX": cache}
        figures = []
        for run in range(runs + 1):
            out = subprocess.run(
                [sys.executable, "-c", _IMPORT_AND_REPORT_CPU], cwd=ROOT, env=env, check=True, capture_output=True
            ).stdout
            if run:  # the first run compiles the bytecode cache
                figures.append(float(out.splitlines()[-1]))
        return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    figures = cold_import_cpu_seconds(parser.parse_args().runs)
    print(
        f"API cold import: {statistics.median(figures):.3f} s CPU median "
        f"(min {min(figures):.3f}, max {max(figures):.3f}, {len(figures)} runs)"
    )


if __name__ == "__main__":
    main()
