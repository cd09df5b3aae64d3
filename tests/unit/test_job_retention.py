"""Job records expire with their artifacts: the stored META and SEG items carry expires_at (epoch seconds,
the table's TTL attribute) = the job's creation + the retention the template sets (ArtifactRetentionDays)."""

from __future__ import annotations

from datetime import datetime

import boto3
import pytest

from pytoon.aws.jobs import JobRepository
from pytoon.chain import plan_documents
from pytoon.config import ConfigError, Settings, get_settings
from pytoon.models import JobStatus
from tests.factories import make_spec

DAY = 24 * 3600


def _stored(table: str, sk_prefix: str) -> list[dict]:
    items = boto3.resource("dynamodb", region_name="us-east-1").Table(table).scan()["Items"]
    return [i for i in items if i["PK"] == "JOB#job1" and i["SK"].startswith(sk_prefix)]


def test_meta_and_segment_items_expire_retention_days_after_creation(moto_table: str) -> None:
    settings = Settings(table_name=moto_table, bucket_name="bucket", artifact_retention_days=7)
    repo = JobRepository.from_settings(settings)
    spec = make_spec(prompt="One. Two. Three.", target_duration_seconds=9, image_uris=["a.png", "b.png", "c.png"])
    record = repo.create(spec, segment_count=3)
    planned = plan_documents(spec)
    repo.put_segments("job1", planned.plan.segments, planned.scene_graph.scenes)

    [meta] = _stored(moto_table, "META")
    created = datetime.fromisoformat(record.created_at.replace("Z", "+00:00")).timestamp()
    assert meta["expires_at"] == int(created) + 7 * DAY
    segments = _stored(moto_table, "SEG#")
    assert len(segments) == 3
    assert {int(s["expires_at"]) for s in segments} == {int(meta["expires_at"])}
    # Later writes (status, progress) keep the expiry.
    repo.transition("job1", JobStatus.PLANNING)
    [meta_after] = _stored(moto_table, "META")
    assert meta_after["expires_at"] == meta["expires_at"]


def test_retention_comes_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PYTOON_TABLE_NAME", "jobs")
    monkeypatch.setenv("PYTOON_BUCKET_NAME", "bucket")
    get_settings.cache_clear()
    try:
        assert get_settings().artifact_retention_days == 30  # the template's default
        monkeypatch.setenv("PYTOON_ARTIFACT_RETENTION_DAYS", "90")
        get_settings.cache_clear()
        assert get_settings().artifact_retention_days == 90
        monkeypatch.setenv("PYTOON_ARTIFACT_RETENTION_DAYS", "0")
        get_settings.cache_clear()
        with pytest.raises(ConfigError, match="PYTOON_ARTIFACT_RETENTION_DAYS"):
            get_settings()
    finally:
        get_settings.cache_clear()
