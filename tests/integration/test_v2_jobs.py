"""V2 jobs over real HTTP on the embedded backend: prompt → scene graph → timeline → video, media mixed with
a video clip, a supplied scene graph with every transition and overlay, and every error row."""

from __future__ import annotations

from pathlib import Path

import httpx
import numpy as np
import pytest

from tests.integration.conftest import download, finished_v2_job, submit_v2_job, upload, upload_clip
from tests.media import LOOK, decode_frames, make_test_clip, save_png, video_stream

pytestmark = pytest.mark.integration


def _mean(frame: np.ndarray) -> np.ndarray:
    return frame.reshape(-1, 3).mean(axis=0)


def test_prompt_only_job_plans_scenes_renders_and_stores_every_artifact(api: httpx.Client, tmp_path: Path) -> None:
    created = submit_v2_job(api, prompt="Meet Aurora. Cold all day. Order now.", target_duration_seconds=6)
    assert created["status"] == "planning_scenes" and created["scene_count"] == 3
    job = finished_v2_job(api, created["job_id"])
    assert job["progress_pct"] == 100 and job["scene_count"] == 3 and job["planner"] == "rules"
    assert [s["scene_id"] for s in job["scenes"]] == [1, 2, 3]
    for scene in job["scenes"]:
        assert scene["status"] == "DONE" and scene["engine_used"] == "local_ffmpeg" and not scene["fallback_used"]
        assert scene["render_duration_ms"] > 0 and scene["media_type"] == "image"
    assert job["scenes"][0]["description"] == "Meet Aurora."

    graph = api.get(f"/api/v2/jobs/{created['job_id']}/scene-graph").json()
    timeline = api.get(f"/api/v2/jobs/{created['job_id']}/timeline").json()
    assert [s["caption"] for s in graph["scenes"]] == ["Meet Aurora.", "Cold all day.", "Order now."]
    assert sum(s["duration"] for s in graph["scenes"]) == timeline["totalDuration"] == 6000
    assert [c["text"] for c in timeline["tracks"]["captions"]] == ["Meet Aurora.", "Cold all day.", "Order now."]
    srt = httpx.get(job["captions_url"]).text
    assert "Cold all day." in srt and srt.count("-->") == 3

    video = download(job["output_url"], tmp_path / "out.mp4")
    stream = video_stream(video)
    assert (stream.width, stream.height, stream.frames) == (1080, 1920, 180)
    # Scenes without media are designed cards in the preset's colours showing their caption.
    first = decode_frames(video, {15})[15]
    save_png(first, LOOK / "prompt_only_card.png")
    assert first.std() > 10  # text on a gradient, not a flat placeholder


def test_media_mixed_job_shows_the_clip_in_its_scene(api: httpx.Client, media_dir: Path, tmp_path: Path) -> None:
    image = upload(api, media_dir / "product_0.png", "image")["uri"]
    clip = upload_clip(
        api, make_test_clip(tmp_path / "clip.mp4", seconds=1.0, fps=24, size=(640, 360), colours=[(250, 200, 0)])
    )
    created = submit_v2_job(
        api,
        prompt="Red and ready. Sunny side up. Back to red. Buy now.",
        media_files=[image, clip],
        target_duration_seconds=8,
        preset_id="meme_fast",
    )
    job = finished_v2_job(api, created["job_id"])
    assert [s["media_type"] for s in job["scenes"]] == ["image", "video", "image", "video"]
    timeline = api.get(f"/api/v2/jobs/{created['job_id']}/timeline").json()
    spans = [(e["start"], e["end"]) for e in timeline["timeline"]]
    video = download(job["output_url"], tmp_path / "mixed.mp4")
    assert video_stream(video).frames == 240
    middle = (spans[1][0] + spans[1][1]) // 2 * 30 // 1000
    frames = decode_frames(video, {middle, 5})
    save_png(frames[middle], LOOK / "clip_scene.png")
    r, g, b = _mean(frames[middle][200:1600])
    assert r > 200 and g > 150 and b < 80  # the clip's yellow, cover-fitted (no black bars)
    assert _mean(frames[5])[0] > _mean(frames[5])[2]  # the red product in scene 1


def _graph_scene(scene_id: int, transition: str, **fields: object) -> dict:
    return {
        "id": scene_id,
        "description": f"Scene {scene_id}",
        "duration": 1500,
        "media": {"type": "image", "asset": None, "effect": "static"},
        "caption": "",
        "transition": transition,
    } | fields


def test_supplied_scene_graph_renders_every_transition_and_overlay(
    api: httpx.Client, media_dir: Path, tmp_path: Path
) -> None:
    red = upload(api, media_dir / "product_0.png", "image")["uri"]
    blue = upload(api, media_dir / "product_2.png", "image")["uri"]
    overlays = [
        {"type": "product_image", "asset": blue, "position": "center", "scale": 0.5},
        {"type": "logo", "asset": red, "position": "top-right", "scale": 1.0, "opacity": 0.8},
        {"type": "text", "asset": "Limited edition", "position": "bottom-left"},
        {"type": "graphic", "asset": blue, "position": "custom", "x": 0.5, "y": 0.2, "scale": 0.3},
    ]
    image = {"type": "image", "asset": red, "effect": "static"}
    graph = {
        "version": "2.0",
        "scenes": [
            _graph_scene(1, "fade", media=image, caption="Fade next"),
            _graph_scene(2, "fade_black", media={"type": "image", "asset": blue, "effect": "slow_zoom_in"}),
            _graph_scene(3, "swipe_left", media=image, overlays=overlays),
            _graph_scene(4, "swipe_right", media={"type": "image", "asset": blue, "effect": "static"}),
            _graph_scene(5, "cut", media=image),
            _graph_scene(6, "fade", caption="The end"),
        ],
    }
    created = submit_v2_job(api, scene_graph=graph)
    assert created["scene_count"] == 6
    job = finished_v2_job(api, created["job_id"])
    assert job["planner"] == "supplied"
    stored = api.get(f"/api/v2/jobs/{created['job_id']}/scene-graph").json()
    assert [s["transition"] for s in stored["scenes"]] == [
        "fade",
        "fade_black",
        "swipe_left",
        "swipe_right",
        "cut",
        "fade",
    ]
    assert stored["scenes"][2]["overlays"][0]["asset"].startswith("uploads/")
    timeline = api.get(f"/api/v2/jobs/{created['job_id']}/timeline").json()
    assert timeline["totalDuration"] == 9000
    transitions = [e.get("transition") and e["transition"]["type"] for e in timeline["timeline"]]
    assert transitions == ["fade", "fade_black", "swipe_left", "swipe_right", "cut", None]

    video = download(job["output_url"], tmp_path / "graph.mp4")
    assert video_stream(video).frames == 270
    boundary = {e["sceneId"]: e["end"] * 30 // 1000 for e in timeline["timeline"]}
    wanted = {boundary[2] - 1, boundary[2], 60, 100} | {boundary[3] + k for k in range(0, 12)}
    frames = decode_frames(video, wanted)
    # fade_black: the frames either side of the boundary are near black, the scene's middle is not.
    assert frames[boundary[2] - 1].mean() < 20 and frames[boundary[2]].mean() < 20
    assert frames[60].mean() > 40
    save_png(frames[boundary[2]], LOOK / "fade_black_boundary.png")
    # swipe_left from scene 3 (red) into scene 4 (blue): the blue part of a row grows as it slides in.
    row = 1500
    blue_share = [
        float((frames[boundary[3] + k][row, :, 2] > frames[boundary[3] + k][row, :, 0] + 40).mean()) for k in range(12)
    ]
    save_png(frames[boundary[3] + 5], LOOK / "swipe_mid.png")
    assert blue_share[0] < blue_share[5] < blue_share[11]
    save_png(frames[100], LOOK / "overlays.png")


@pytest.mark.parametrize(
    ("body", "status", "detail"),
    [
        ({"prompt": "   "}, 400, "prompt is required"),
        ({}, 400, "prompt is required"),
        ({"prompt": "Show it naked on the beach."}, 400, "content rules"),
        ({"prompt": "Hello.", "preset_id": "nope"}, 400, "Unknown preset"),
        (
            {"prompt": "Hello.", "media_files": ["uploads/0123456789abcdef0123456789abcdef/x.png"]},
            400,
            "not an uploaded",
        ),
        ({"prompt": "Hello.", "media_files": ["http://example.com/a.png"]}, 400, "https"),
        ({"prompt": "Hello.", "media_files": ["https://169.254.169.254/latest"]}, 400, "address"),
        ({"prompt": " ".join(f"Sentence {i}." for i in range(70))}, 400, "cannot fit"),
        ({"prompt": "One. Two. Three.", "target_duration_seconds": 2}, 400, "cannot fit"),
        ({"prompt": "Hello.", "music_source": "no_such_track"}, 400, "music library"),
        ({"prompt": "Hello.", "voice_script": "A minute and more of speech, spoken slowly. " * 30}, 400, "takes about"),
        ({"prompt": "Hello.", "scene_graph": {"version": "2.0", "scenes": []}}, 400, "cannot be combined"),
        ({"scene_graph": {"version": "2.0", "scenes": []}}, 400, "scenes"),
        ({"prompt": "Hello.", "target_duration_seconds": 61}, 422, None),
        ({"prompt": "Hello.", "max_scenes": 0}, 422, None),
        ({"prompt": "Hello.", "engine_override": "dalle"}, 422, None),
        ({"prompt": 5}, 422, None),
        ({"prompt": "Hello.", "unknown": True}, 422, None),
    ],
)
def test_error_rows(api: httpx.Client, body: dict, status: int, detail: str | None) -> None:
    response = api.post("/api/v2/jobs", json=body)
    assert response.status_code == status, response.text
    if detail:
        assert detail in response.json()["detail"]


def test_scene_graph_violations_are_all_listed(api: httpx.Client) -> None:
    graph = {
        "version": "2.0",
        "scenes": [
            _graph_scene(1, "fade", duration=500),
            _graph_scene(1, "wobble"),
            _graph_scene(3, "cut", media={"type": "video"}),
        ],
    }
    detail = api.post("/api/v2/jobs", json={"scene_graph": graph}).json()["detail"]
    assert "scenes/0/duration" in detail and "scenes/1/transition" in detail
    graph["scenes"][0]["duration"] = 1000
    graph["scenes"][1]["transition"] = "cut"
    detail = api.post("/api/v2/jobs", json={"scene_graph": graph}).json()["detail"]
    assert "unique" in detail and "scenes/2/media" in detail


def test_max_scenes_merges_sentences_and_keeps_every_caption(api: httpx.Client) -> None:
    sentences = [f"Point {i}." for i in range(1, 9)]
    created = submit_v2_job(api, prompt=" ".join(sentences), max_scenes=3, target_duration_seconds=9)
    assert created["scene_count"] == 3
    job = finished_v2_job(api, created["job_id"])
    srt = httpx.get(job["captions_url"]).text
    assert all(s in srt for s in sentences)
    graph = api.get(f"/api/v2/jobs/{created['job_id']}/scene-graph").json()
    assert " ".join(s["caption"] for s in graph["scenes"]) == " ".join(sentences)


def test_engine_override_without_a_configured_engine_falls_back_and_says_so(api: httpx.Client) -> None:
    created = submit_v2_job(api, prompt="A drone shot over the lake. The product glows.", engine_override="runway",
                      target_duration_seconds=4)  # fmt: skip
    job = finished_v2_job(api, created["job_id"])
    assert job["fallback_used"] and "runway has no API key configured" in job["fallback_reason"]
    assert all(s["fallback_used"] and s["engine_used"] == "local_ffmpeg" for s in job["scenes"])
    graph = api.get(f"/api/v2/jobs/{created['job_id']}/scene-graph").json()
    assert graph["scenes"][0]["media"]["engine"] == "runway" and "brand-safe" in graph["scenes"][0]["media"]["prompt"]
    assert 'pytoon_fallback_total{engine="runway",reason="unavailable",type="engine_fallback"}' in (
        api.get("/metrics").text
    )


def test_documents_are_404_for_unknown_jobs_and_other_tenants(api: httpx.Client, embedded: object) -> None:
    assert api.get("/api/v2/jobs/nope").status_code == 404
    assert api.get("/api/v2/jobs/nope/scene-graph").status_code == 404
    assert api.get("/api/v2/jobs/nope/timeline").status_code == 404


def test_idempotency_key_returns_the_same_v2_job(api: httpx.Client) -> None:
    body = {"prompt": "Same request twice.", "target_duration_seconds": 2}
    first = api.post("/api/v2/jobs", json=body, headers={"Idempotency-Key": "v2-same"}).json()
    second = api.post("/api/v2/jobs", json=body, headers={"Idempotency-Key": "v2-same"}).json()
    assert first["job_id"] == second["job_id"]
    conflict = api.post("/api/v2/jobs", json=body | {"max_scenes": 1}, headers={"Idempotency-Key": "v2-same"})
    assert conflict.status_code == 409
    finished_v2_job(api, first["job_id"])
