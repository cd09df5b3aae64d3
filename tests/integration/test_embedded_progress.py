"""Following a job on embedded AWS: woken by its changes, and told when its execution ends without it."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import pytest

from pytoon.assets import store_upload
from pytoon.aws import client
from pytoon.aws.jobs import JobRepository
from pytoon.config import get_settings
from pytoon.local.embedded import EmbeddedAWS
from pytoon.local.progress import JobNotFinishedError, watch_job
from pytoon.models import AssetCategory, JobStatus
from pytoon.submission import JobRequest, submit_request
from tests.factories import make_spec

pytestmark = pytest.mark.integration


def _submit(media_dir: Path) -> str:
    image = media_dir / "product_2.png"
    key = store_upload(tenant_id="watch", category=AssetCategory.IMAGE, filename=image.name, data=image.read_bytes())
    request = JobRequest(preset_id="product_hero_clean", prompt="Watch me.", target_duration_seconds=1)
    request.image_uris.append(key.key)
    return submit_request(request, tenant_id="watch").job_id


def test_a_job_is_followed_to_done_through_every_status_it_passes(embedded: EmbeddedAWS, media_dir: Path) -> None:
    seen: list[JobStatus] = []
    record = watch_job(
        _submit(media_dir), embedded.changes, timeout_seconds=300, on_update=lambda r: seen.append(r.status)
    )
    assert record.status is JobStatus.DONE and record.progress_pct == 100
    assert JobStatus.RENDERING_SEGMENTS in seen and seen[-1] is JobStatus.DONE


def test_an_execution_that_ends_without_the_job_is_reported_not_waited_on(
    embedded: EmbeddedAWS, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A machine that ends at once without touching the job, as a States.Runtime error or a StopExecution does.
    # (Stopping a real RenderJob execution instead races moto's interpreter, which can then report RUNNING
    # for ever when the stop lands while a Parallel branch starts.)
    sfn = client("stepfunctions", embedded.region)
    definition = {"StartAt": "Gone", "States": {"Gone": {"Type": "Fail", "Error": "Operator", "Cause": "stopped"}}}
    machine = sfn.create_state_machine(
        name="EndsWithoutTheJob",
        definition=json.dumps(definition),
        roleArn="arn:aws:iam::123456789012:role/pytoon-local",
    )["stateMachineArn"]
    monkeypatch.setenv("PYTOON_STATE_MACHINE_ARN", machine)
    get_settings.cache_clear()
    try:
        spec = make_spec(job_id=uuid.uuid4().hex, tenant_id="watch", prompt="Watch me.", target_duration_seconds=1)
        JobRepository.from_settings(get_settings()).create(spec, segment_count=1)
        sfn.start_execution(stateMachineArn=machine, name=spec.job_id, input=json.dumps({"job_id": spec.job_id}))
        with pytest.raises(JobNotFinishedError, match=r"ended FAILED \(Operator: stopped\)"):
            watch_job(spec.job_id, embedded.changes, timeout_seconds=300)
    finally:
        monkeypatch.undo()
        get_settings.cache_clear()
