"""Following a job on embedded AWS: woken by its changes, and told when its execution ends without it."""

from __future__ import annotations

from pathlib import Path

import pytest

from pytoon.assets import store_upload
from pytoon.aws import client
from pytoon.aws.executions import execution_arn
from pytoon.config import get_settings
from pytoon.local.embedded import EmbeddedAWS
from pytoon.local.progress import JobNotFinishedError, watch_job
from pytoon.models import AssetCategory, JobStatus
from pytoon.submission import JobRequest, submit_request

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
    embedded: EmbeddedAWS, media_dir: Path
) -> None:
    job_id = _submit(media_dir)
    settings = get_settings()
    client("stepfunctions", settings.region).stop_execution(
        executionArn=execution_arn(settings.state_machine_arn, job_id), error="Operator", cause="stopped by hand"
    )
    with pytest.raises(JobNotFinishedError, match="ended ABORTED"):
        watch_job(job_id, embedded.changes, timeout_seconds=300)
