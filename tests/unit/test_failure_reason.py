"""Readable reasons from Step Functions error objects."""

import json
import tempfile

from pytoon.errors import public_message
from pytoon.pipeline import failure_reason


def test_lambda_error_cause_gives_its_message() -> None:
    cause = json.dumps({"errorMessage": "segment 2 failed: cannot decode image", "errorType": "SegmentRenderError"})
    assert failure_reason({"Error": "SegmentRenderError", "Cause": cause}) == "segment 2 failed: cannot decode image"


def test_plain_text_cause_is_kept() -> None:
    assert failure_reason({"Error": "States.Timeout", "Cause": "task timed out"}) == "task timed out"


def test_missing_cause_falls_back_to_error_name() -> None:
    assert failure_reason({"Error": "States.Timeout"}) == "States.Timeout"
    assert failure_reason(None) == "render failed"


def test_long_reasons_are_truncated() -> None:
    reason = failure_reason({"Error": "X", "Cause": "y" * 2000})
    assert len(reason) == 500 and reason.endswith("...")


def test_reasons_never_name_scratch_files() -> None:
    scratch = f"{tempfile.gettempdir()}/pytoon/job1/seg_002/inputs/uploads_abc_shot.png"
    cause = json.dumps({"errorMessage": f"segment 2 failed: [Errno 2] No such file or directory: '{scratch}'"})
    assert failure_reason({"Error": "SegmentRenderError", "Cause": cause}) == (
        "segment 2 failed: [Errno 2] No such file or directory:"
    )
    assert public_message(f"cannot write {scratch}/out.mp4") == "cannot write the file"
    assert public_message("image /srv/app/logo.png is fine") == "image /srv/app/logo.png is fine"
