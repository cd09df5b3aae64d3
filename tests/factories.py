"""Builders shared by every test layer: one way to make a resolved JobSpec."""

from __future__ import annotations

from pytoon.models import JobSpec
from pytoon.submission import JobRequest, resolve_spec


def make_spec(*, job_id: str = "job1", tenant_id: str = "t", **request: object) -> JobSpec:
    """A JobSpec from V1 request fields (preset `product_hero_clean` unless given); asset URIs are their own keys."""
    body = {"preset_id": "product_hero_clean"} | request
    uris = [*body.get("image_uris", []), body.get("mask_uri"), body.get("music_uri"), body.get("voice_uri")]
    return resolve_spec(
        JobRequest.model_validate(body), job_id=job_id, tenant_id=tenant_id, asset_keys={u: u for u in uris if u}
    )
