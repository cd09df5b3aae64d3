"""The V1 API over real HTTP on the embedded backend: every route, every error row, tenants, limits."""

from __future__ import annotations

import base64
import io
import json
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import httpx
import pytest
from PIL import Image

from pytoon.aws import client
from pytoon.aws.apikeys import ApiKeyRepository, hash_key
from pytoon.config import get_settings
from pytoon.local.embedded import EmbeddedAWS
from pytoon.presets import all_presets
from tests.integration.conftest import API_KEY, upload

pytestmark = pytest.mark.integration


def _png(size: tuple[int, int] = (64, 64), mode: str = "RGB") -> bytes:
    buffer = io.BytesIO()
    Image.new(mode, size, (200, 100, 50, 255)[: len(mode)]).save(buffer, format="PNG")
    return buffer.getvalue()


def _other_tenant(api: httpx.Client, tenant: str, limit: int = 60) -> httpx.Client:
    key = ApiKeyRepository.from_settings(get_settings()).create(tenant, limit).api_key
    return httpx.Client(base_url=api.base_url, headers={"X-API-Key": key}, timeout=30)


# --- service routes --------------------------------------------------------------------------------


def test_health_needs_no_key(api: httpx.Client) -> None:
    response = httpx.get(f"{api.base_url}/health")
    assert response.status_code == 200
    assert response.json()["status"] == "ok" and response.json()["version"]


def test_missing_key_is_422_and_wrong_key_is_401(api: httpx.Client) -> None:
    missing = httpx.get(f"{api.base_url}/api/v1/presets")
    assert missing.status_code == 422
    assert missing.json()["detail"][0]["loc"] == ["header", "X-API-Key"]
    wrong = httpx.get(f"{api.base_url}/api/v1/presets", headers={"X-API-Key": "nope"})
    assert wrong.status_code == 401 and wrong.json() == {"detail": "Invalid API key"}


def test_keys_are_stored_hashed(api: httpx.Client, embedded: EmbeddedAWS) -> None:
    api.get("/api/v1/presets")
    table = client("dynamodb", embedded.region)
    items = table.scan(TableName=get_settings().table_name)["Items"]
    dumped = repr(items)
    assert API_KEY not in dumped
    assert f"APIKEY#{hash_key(API_KEY)}" in dumped


def test_presets_have_the_seed_structure(api: httpx.Client) -> None:
    presets = api.get("/api/v1/presets").json()["presets"]
    assert [p["id"] for p in presets] == [p.id for p in all_presets()]
    clean = presets[0]
    assert set(clean) >= {
        "id",
        "name",
        "archetype",
        "brand_safe",
        "engine_policy",
        "caption_style",
        "motion_profile",
        "transitions",
        "audio",
    }
    assert clean["caption_style"] == {
        "font": "Inter",
        "size_rules": "auto",
        "position": "lower_third",
        "safe_margin_px": 120,
    }
    assert next(p for p in presets if p["id"] == "meme_fast")["transitions"] == {
        "type": "cut",
        "duration_ms": 0,
    }


def test_openapi_documents_routes_and_key_scheme(api: httpx.Client) -> None:
    spec = httpx.get(f"{api.base_url}/openapi.json").json()
    assert {
        "/health",
        "/metrics",
        "/api/v1/presets",
        "/api/v1/assets/upload",
        "/api/v1/assets/uploads",
        "/api/v1/assets/{asset_id}",
        "/api/v1/jobs",
        "/api/v1/jobs/{job_id}",
        "/api/v1/jobs/{job_id}/segments",
    } <= set(spec["paths"])
    assert spec["components"]["securitySchemes"]["APIKeyHeader"]["name"] == "X-API-Key"
    assert "429" in spec["paths"]["/api/v1/jobs"]["post"]["responses"]
    assert httpx.get(f"{api.base_url}/docs").status_code == 200


# --- uploads -----------------------------------------------------------------------------------------


def test_upload_image_returns_201_with_facts(api: httpx.Client) -> None:
    response = api.post(
        "/api/v1/assets/upload", files={"file": ("a.png", _png((300, 200)))}, data={"category": "image"}
    )
    assert response.status_code == 201
    body = response.json()
    assert body["key"].startswith("uploads/") and body["uri"].startswith("s3://")
    assert body["size"] > 0 and body["media"] == {
        "type": "png",
        "width": 300,
        "height": 200,
        "has_alpha": False,
    }
    assert httpx.get(body["url"]).content == _png((300, 200))


@pytest.mark.parametrize(
    ("name", "content", "category", "reason"),
    [
        ("doc.pdf", b"%PDF-1.4 not an image", "image", "Not a PNG, JPEG or WebP"),
        ("big.png", None, "image", "5000x100"),
        ("mask.png", "rgb", "mask", "alpha"),
        ("song.mp3", b"just some text", "audio", "MP3 or WAV"),
    ],
)
def test_bad_uploads_get_400_with_a_reason(
    api: httpx.Client, name: str, content: bytes | str | None, category: str, reason: str
) -> None:
    data = _png((5000, 100)) if content is None else _png() if content == "rgb" else content
    response = api.post("/api/v1/assets/upload", files={"file": (name, data)}, data={"category": category})
    assert response.status_code == 400
    assert reason in response.json()["detail"]


def test_upload_over_the_platform_limit_points_to_presigned_flow(api: httpx.Client) -> None:
    response = api.post("/api/v1/assets/upload", files={"file": ("huge.png", b"\0" * (7 * 1024 * 1024))})
    assert response.status_code == 413
    assert "/api/v1/assets/uploads" in response.json()["detail"]


def test_presigned_upload_becomes_ready_or_rejected(api: httpx.Client) -> None:
    def presign(filename: str, content_type: str) -> dict:
        response = api.post(
            "/api/v1/assets/uploads",
            json={"filename": filename, "content_type": content_type, "category": "image"},
        )
        assert response.status_code == 201, response.text
        return response.json()

    good = presign("shot.png", "image/png")
    # moto stores a POSTed object without checking the policy, so check the policy S3 would enforce.
    policy = json.loads(base64.b64decode(good["upload_fields"]["policy"]))
    assert ["content-length-range", 1, 20 * 1024 * 1024] in policy["conditions"]
    assert {"Content-Type": "image/png"} in policy["conditions"]
    assert {"key": good["key"]} in policy["conditions"]
    assert api.get(good["status_url"]).json()["status"] == "PENDING"
    posted = httpx.post(good["upload_url"], data=good["upload_fields"], files={"file": ("shot.png", _png((400, 300)))})
    assert posted.status_code in (200, 201, 204)
    ready = api.get(good["status_url"]).json()
    assert ready["status"] == "READY" and ready["media"]["width"] == 400

    bad = presign("fake.png", "image/png")
    httpx.post(bad["upload_url"], data=bad["upload_fields"], files={"file": ("fake.png", b"not a png")})
    rejected = api.get(bad["status_url"]).json()
    assert rejected["status"] == "REJECTED" and "Not a PNG" in rejected["reason"]
    # The rejected object is deleted.
    objects = client("s3", "us-east-1").list_objects_v2(Bucket=get_settings().bucket_name, Prefix=bad["key"])
    assert objects.get("KeyCount", 0) == 0

    wrong_type = api.post("/api/v1/assets/uploads", json={"filename": "x.pdf", "content_type": "application/pdf"})
    assert wrong_type.status_code == 400


# --- jobs --------------------------------------------------------------------------------------------


def test_job_validation_errors(api: httpx.Client) -> None:
    assert api.post("/api/v1/jobs", json={"preset_id": "nope"}).status_code == 400
    assert "Unknown preset" in api.post("/api/v1/jobs", json={"preset_id": "nope"}).json()["detail"]
    for body in (
        {"preset_id": "meme_fast", "target_duration_seconds": 61},
        {"preset_id": "meme_fast", "target_duration_seconds": 0},
        {"preset_id": "meme_fast", "archetype": "CAT_VIDEO"},
        {"preset_id": "meme_fast", "engine_policy": "cloud_magic"},
        {"preset_id": "meme_fast", "image_uris": "not-a-list"},
        {"target_duration_seconds": 5},
    ):
        assert api.post("/api/v1/jobs", json=body).status_code == 422, body


def test_jobs_only_accept_this_tenants_ready_assets(api: httpx.Client) -> None:
    for uri in ("/etc/passwd", "file:///data/storage/x.png", "s3://other-bucket/uploads/x/y.png"):
        response = api.post("/api/v1/jobs", json={"preset_id": "meme_fast", "image_uris": [uri]})
        assert response.status_code == 400 and uri in response.json()["detail"]
    mine = upload(api, _write_png(), "image")
    with _other_tenant(api, "rival") as rival:
        stolen = rival.post("/api/v1/jobs", json={"preset_id": "meme_fast", "image_uris": [mine["uri"]]})
    assert stolen.status_code == 400
    audio_as_image = api.post("/api/v1/jobs", json={"preset_id": "meme_fast", "music_uri": mine["uri"]})
    assert audio_as_image.status_code == 400


def _write_png() -> Path:
    path = Path(os.environ.get("TMPDIR", "/tmp")) / "pytoon-api-test.png"
    path.write_bytes(_png((320, 480)))
    return path


def test_other_tenants_jobs_are_404(api: httpx.Client) -> None:
    job = api.post("/api/v1/jobs", json={"preset_id": "meme_fast", "prompt": "Mine.", "target_duration_seconds": 1})
    job_id = job.json()["job_id"]
    with _other_tenant(api, "snoop") as snoop:
        assert snoop.get(f"/api/v1/jobs/{job_id}").status_code == 404
        assert snoop.get(f"/api/v1/jobs/{job_id}/segments").status_code == 404
    assert api.get("/api/v1/jobs/does-not-exist").json() == {"detail": "Job not found"}
    assert api.get("/api/v1/jobs/does-not-exist/segments").status_code == 404
    body = api.get(f"/api/v1/jobs/{job_id}").json()
    assert set(body) >= {
        "job_id",
        "status",
        "archetype",
        "preset_id",
        "target_duration_seconds",
        "progress_pct",
        "output_uri",
        "thumbnail_uri",
        "metadata_uri",
        "fallback_used",
        "fallback_reason",
        "error",
        "created_at",
        "updated_at",
        "output_url",
        "thumbnail_url",
        "metadata_url",
    }


def test_idempotency_key_returns_the_first_job(api: httpx.Client) -> None:
    body = {"preset_id": "meme_fast", "prompt": "Once.", "target_duration_seconds": 1}
    first = api.post("/api/v1/jobs", json=body, headers={"Idempotency-Key": "order-42"})
    again = api.post("/api/v1/jobs", json=body, headers={"Idempotency-Key": "order-42"})
    assert first.status_code == again.status_code == 201
    # The same job; a replay reports its status now (it may already be planning).
    assert again.json()["job_id"] == first.json()["job_id"]
    assert again.json()["segments"] == first.json()["segments"]
    assert first.json()["status"] == "QUEUED"
    different = api.post("/api/v1/jobs", json=body | {"prompt": "Twice."}, headers={"Idempotency-Key": "order-42"})
    assert different.status_code == 409
    executions = client("stepfunctions", "us-east-1").list_executions(stateMachineArn=get_settings().state_machine_arn)[
        "executions"
    ]
    assert sum(e["name"] == first.json()["job_id"] for e in executions) == 1


# --- limits and keys ---------------------------------------------------------------------------------


def test_rate_limit_per_key_never_admits_request_61(api: httpx.Client) -> None:
    with _other_tenant(api, "busy", limit=60) as busy, _other_tenant(api, "calm", limit=60) as calm:
        # Stay inside one calendar minute so the window cannot roll over mid-test.
        if time.time() % 60 > 40:
            time.sleep(61 - time.time() % 60)
        statuses = [busy.get("/api/v1/presets").status_code for _ in range(61)]
        assert statuses[:60] == [200] * 60
        assert statuses[60] == 429
        limited = busy.get("/api/v1/presets")
        assert limited.status_code == 429
        assert 1 <= limited.json()["retry_after_seconds"] <= 60
        assert limited.headers["Retry-After"] == str(limited.json()["retry_after_seconds"])
        assert calm.get("/api/v1/presets").status_code == 200  # another key has its own window


def test_admin_routes_create_and_revoke_keys(api: httpx.Client, monkeypatch: pytest.MonkeyPatch) -> None:
    assert httpx.post(f"{api.base_url}/admin/keys", json={"tenant_id": "x"}).status_code == 404
    monkeypatch.setenv("ADMIN_API_KEY", "root-secret")
    admin = {"X-Admin-Key": "root-secret"}
    assert (
        httpx.post(f"{api.base_url}/admin/keys", json={"tenant_id": "x"}, headers={"X-Admin-Key": "no"}).status_code
        == 401
    )
    created = httpx.post(f"{api.base_url}/admin/keys", json={"tenant_id": "newco"}, headers=admin).json()
    key = created["api_key"]
    assert httpx.get(f"{api.base_url}/api/v1/presets", headers={"X-API-Key": key}).status_code == 200
    listed = httpx.get(f"{api.base_url}/admin/keys", headers=admin).json()
    assert created["key_id"] in [k["key_id"] for k in listed] and key not in repr(listed)
    revoked = httpx.post(f"{api.base_url}/admin/keys/{created['key_id']}/revoke", headers=admin)
    assert revoked.json()["revoked"] is True
    assert httpx.get(f"{api.base_url}/api/v1/presets", headers={"X-API-Key": key}).status_code == 401


def test_metrics_add_up_across_processes(api: httpx.Client, embedded: EmbeddedAWS) -> None:
    def scrape() -> str:
        response = httpx.get(f"{api.base_url}/metrics")
        assert response.status_code == 200
        return response.text

    def jobs_total(text: str) -> float:
        return sum(
            float(line.rsplit(" ", 1)[1])
            for line in text.splitlines()
            if line.startswith('pytoon_render_jobs_total{archetype="MEME_TEXT",preset="meme_smooth"}')
        )

    before = jobs_total(scrape())
    api.post("/api/v1/jobs", json={"preset_id": "meme_smooth", "prompt": "Here.", "target_duration_seconds": 1})
    # A second process (another API instance) records the same metric in the same backend.
    script = textwrap.dedent(
        """
        from pytoon.aws.metrics import MetricsStore
        from pytoon.config import get_settings
        MetricsStore.from_settings(get_settings()).increment(
            "pytoon_render_jobs_total", archetype="MEME_TEXT", preset="meme_smooth")
        """
    )
    subprocess.run([sys.executable, "-c", script], check=True, env=os.environ.copy(), timeout=60)
    text = scrape()
    assert jobs_total(text) == before + 2
    for family, kind in (
        ("pytoon_render_jobs_total", "counter"),
        ("pytoon_render_success_total", "counter"),
        ("pytoon_render_failure_total", "counter"),
        ("pytoon_fallback_total", "counter"),
        ("pytoon_segment_render_seconds", "histogram"),
        ("pytoon_job_total_seconds", "histogram"),
        ("pytoon_queue_depth", "gauge"),
    ):
        assert f"# TYPE {family} {kind}" in text, family


def test_a_render_that_cannot_start_is_503_and_recorded(api: httpx.Client, monkeypatch: pytest.MonkeyPatch) -> None:
    settings = get_settings()
    monkeypatch.setenv("PYTOON_STATE_MACHINE_ARN", settings.state_machine_arn.replace("RenderJob", "Missing"))
    get_settings.cache_clear()
    try:
        body = {"preset_id": "meme_fast", "prompt": "Nope.", "target_duration_seconds": 1}
        first = api.post("/api/v1/jobs", json=body, headers={"Idempotency-Key": "will-fail"})
        assert first.status_code == 503 and "could not start render" in first.json()["detail"]
        assert first.headers["Retry-After"]
        # The claim was released, so the same key may be retried once the service is back.
        monkeypatch.setenv("PYTOON_STATE_MACHINE_ARN", settings.state_machine_arn)
        get_settings.cache_clear()
        retried = api.post("/api/v1/jobs", json=body, headers={"Idempotency-Key": "will-fail"})
        assert retried.status_code == 201
    finally:
        monkeypatch.undo()
        get_settings.cache_clear()
    failed = [
        item
        for item in client("dynamodb", "us-east-1").scan(TableName=settings.table_name)["Items"]
        if item.get("error", {}).get("S", "").startswith("could not start render")
    ]
    assert failed and failed[0]["status"]["S"] == "FAILED"
