"""The optional LLM planner over the embedded backend: the planner step asks a fake OpenAI-compatible API on
loopback (pytoon.local.fakes.openai_chat) and renders its scene graph; an answer that is not JSON, or one that
comes too late, leaves the job to the rule planner with the reason recorded, and the job still renders."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from pytoon.local.fakes.openai_chat import FakeOpenAIChat, fake_openai_chat
from tests.integration.conftest import upload, wait_for_job
from tests.media import decode_frames, video_stream

pytestmark = pytest.mark.integration

PROMPT = "Meet Aurora. Cold all day. Order now."
MODEL = "gpt-4o-mini"


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeOpenAIChat]:
    """The fake, configured as the planner's LLM for this test only (the planner reads its configuration
    on every plan; monkeypatch restores the environment afterwards)."""
    with fake_openai_chat() as server:
        monkeypatch.setenv("PYTOON_PLANNER_LLM_BASE_URL", server.api_url)
        monkeypatch.setenv("PYTOON_PLANNER_LLM_MODEL", MODEL)
        monkeypatch.setenv("PYTOON_PLANNER_LLM_API_KEY", server.api_key)
        monkeypatch.delenv("PYTOON_PLANNER_LLM_TIMEOUT_SECONDS", raising=False)
        yield server


def _scene(n: int, asset: str | None, caption: str, duration: int, transition: str) -> dict[str, Any]:
    """A scene as a strict answer spells it: every field present, absent ones null."""
    return {
        "id": n,
        "description": f"Scene {n} as the model sees it",
        "duration": duration,
        "media": {"type": "image", "asset": asset, "prompt": None, "effect": "slow_zoom_in" if asset else None},
        "caption": caption,
        "style": {"mood": "bright", "camera_motion": None, "lighting": None},
        "overlays": [],
        "transition": transition,
    }


def _planned_job(api: httpx.Client, body: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    created = api.post("/api/v2/jobs", json=body)
    assert created.status_code == 202, created.text
    job_id = created.json()["job_id"]
    wait_for_job(api, job_id)
    job = api.get(f"/api/v2/jobs/{job_id}").json()
    assert job["status"] == "done", job["error"]
    return job_id, job


def test_the_llm_plans_the_scene_graph_that_is_rendered(
    api: httpx.Client, fake: FakeOpenAIChat, media_dir: Path, tmp_path: Path
) -> None:
    red = upload(api, media_dir / "product_0.png", "image")
    # Unlike the rules (the one image in every scene, captions from the sentences), the model opens and
    # closes on cards and gives the image in the middle the longest scene.
    answer = {
        "version": "2.0",
        "scenes": [
            _scene(1, None, "Hello from the model.", 1000, "fade_black"),
            _scene(2, red["key"], "Aurora keeps it cold.", 3000, "swipe_left"),
            _scene(3, None, "Get yours today.", 2000, "cut"),
        ],
    }
    fake.answer(answer)
    job_id, job = _planned_job(api, {"prompt": PROMPT, "media_files": [red["uri"]], "target_duration_seconds": 6})

    assert (job["planner"], job["planner_fallback_reason"]) == ("llm", None)
    (request,) = fake.requests
    assert request.json["model"] == MODEL
    asked = json.loads(request.json["messages"][1]["content"])
    assert asked["prompt"] == PROMPT and asked["media"] == [{"asset": red["key"], "kind": "image"}]

    graph = api.get(f"/api/v2/jobs/{job_id}/scene-graph").json()
    assert [(s["caption"], s["transition"], s["media"].get("asset")) for s in graph["scenes"]] == [
        ("Hello from the model.", "fade_black", None),
        ("Aurora keeps it cold.", "swipe_left", red["key"]),
        ("Get yours today.", "cut", None),
    ]
    # The model's durations are proportions, fitted to the job's frames: its order of lengths stays.
    first, second, third = (s["duration"] for s in graph["scenes"])
    assert first < third < second and first + second + third == 6000
    srt = httpx.get(job["captions_url"], timeout=60).text
    assert "Aurora keeps it cold." in srt and "Cold all day." not in srt

    video = tmp_path / "llm.mp4"
    video.write_bytes(httpx.get(job["output_url"], timeout=60).content)
    assert video_stream(video).frames == 180
    scene_2 = api.get(f"/api/v2/jobs/{job_id}/timeline").json()["timeline"][1]
    frame = (scene_2["start"] + scene_2["end"]) // 2 * 30 // 1000
    middle = decode_frames(video, {frame})[frame][200:1600].reshape(-1, 3).mean(axis=0)
    assert middle[0] > middle[1] + 40  # the red product, where the model put it


@pytest.mark.parametrize(
    ("script", "timeout", "reason"),
    [
        ({"content": "Here is your plan: three scenes!"}, None, "LLM planner answer is not JSON ("),
        ({"content": '{"version": "2.0", "scenes": []}', "delay_seconds": 30}, "1", "LLM planner timed out after 1 s"),
    ],
    ids=["not-json", "too-slow"],
)
def test_an_unusable_answer_falls_back_to_the_rules_and_the_job_still_renders(
    api: httpx.Client,
    fake: FakeOpenAIChat,
    monkeypatch: pytest.MonkeyPatch,
    script: dict[str, Any],
    timeout: str | None,
    reason: str,
) -> None:
    if timeout:
        monkeypatch.setenv("PYTOON_PLANNER_LLM_TIMEOUT_SECONDS", timeout)
    fake.answer(**script)
    job_id, job = _planned_job(api, {"prompt": PROMPT, "target_duration_seconds": 3})

    assert job["planner"] == "rules" and job["planner_fallback_reason"].startswith(reason)
    assert len(fake.requests) == 1
    graph = api.get(f"/api/v2/jobs/{job_id}/scene-graph").json()
    assert [s["caption"] for s in graph["scenes"]] == ["Meet Aurora.", "Cold all day.", "Order now."]
    assert job["output_url"] and sum(s["duration"] for s in graph["scenes"]) == 3000
