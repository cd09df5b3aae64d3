"""cfn-lint (which runs the SAM transform itself) reports nothing on template.yaml.

Any suppression belongs in .cfnlintrc at the repo root, with the reason written next to it.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from .conftest import REPO_ROOT, TEMPLATE_PATH


def _cfn_lint() -> list[str]:
    # The cfn-lint next to this interpreter (the project venv), never whatever is first on PATH.
    script = Path(sys.executable).with_name("cfn-lint")
    return [str(script)] if script.exists() else [sys.executable, "-m", "cfnlint"]


def test_cfn_lint_reports_no_errors_and_no_warnings() -> None:
    result = subprocess.run(
        [*_cfn_lint(), "--format", "parseable", "--", str(TEMPLATE_PATH.relative_to(REPO_ROOT))],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    findings = (result.stdout + result.stderr).strip()
    assert result.returncode == 0, f"cfn-lint exited {result.returncode}:\n{findings}"
    assert findings == ""
