"""The `pytoon` console script, run the way a user runs it: from any directory, as its own process."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import av
import boto3
import httpx
import numpy as np
import pytest
from standardwebhooks.webhooks import Webhook

from pytoon.local.fakes.sora_video import WEBHOOK_SECRET
from tests.media import decode_frames, make_test_clip, video_stream

pytestmark = pytest.mark.integration

PYTOON = Path(sys.executable).with_name("pytoon")


def test_render_writes_the_video_and_its_sidecars(media_dir: Path, tmp_path: Path) -> None:
    output = tmp_path / "clips" / "launch.mp4"
    result = subprocess.run(
        [
            str(PYTOON),
            "render",
            "--prompt",
            "Launch day. Shop now.",
            "--image",
            str(media_dir / "product_1.png"),
            "--music",
            str(media_dir / "music.wav"),
            "--preset",
            "overlay_classic",
            "--duration",
            "2",
            "-o",
            str(output),
        ],
        cwd=tmp_path,  # not the repo root: handlers must load from template.yaml's CodeUri, not from sys.path
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    summary = result.stdout.strip().splitlines()[-1]
    assert str(output) in summary and "duration 2.00s" in summary and "wall time" in summary
    assert "DONE" in result.stderr  # the progress bar reached the end

    with av.open(str(output)) as container:
        assert sum(1 for _ in container.decode(video=0)) == 60
    assert output.with_name("launch.thumbnail.jpg").read_bytes()[:3] == b"\xff\xd8\xff"
    assert "Launch day." in output.with_name("launch.srt").read_text()
    metadata = json.loads(output.with_name("launch.metadata.json").read_text())
    assert metadata["spec"]["preset"]["id"] == "overlay_classic"


def test_bad_input_is_a_clear_error(tmp_path: Path) -> None:
    text = tmp_path / "notes.png"
    text.write_text("not an image")
    result = subprocess.run(
        [
            str(PYTOON),
            "render",
            "--prompt",
            "x",
            "--image",
            str(text),
            "--duration",
            "2",
            "-o",
            str(tmp_path / "o.mp4"),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 2
    assert "input rejected" in result.stderr and "Traceback" not in result.stderr
    missing = subprocess.run(
        [str(PYTOON), "render", "--prompt", "x", "--image", "/nope.png"], capture_output=True, text=True
    )
    assert missing.returncode == 2 and "no such file" in missing.stderr


def _render_v2(*args: str, cwd: Path, timeout: int = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(PYTOON), "render-v2", *args], cwd=cwd, capture_output=True, text=True, timeout=timeout)


YELLOW = (250, 200, 0)


def _is_yellow(frame: np.ndarray) -> bool:
    r, g, b = frame[200:1600].reshape(-1, 3).mean(axis=0)
    return r > 200 and g > 150 and b < 80


def test_render_v2_prompt_with_an_image_and_a_video_clip(media_dir: Path, tmp_path: Path) -> None:
    clip = make_test_clip(tmp_path / "clip.mp4", seconds=1.0, fps=24, size=(640, 360), colours=[YELLOW])
    output = tmp_path / "out" / "v2.mp4"
    result = _render_v2(
        "--prompt",
        "Red and ready. Sunny side up.",
        "--media",
        str(media_dir / "product_0.png"),
        "--media",
        "clip.mp4",  # relative to the working directory
        "--music",
        str(media_dir / "music.wav"),
        "--duration",
        "2",
        "-o",
        str(output),
        cwd=clip.parent,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    summary = result.stdout.strip().splitlines()[-1]
    assert str(output) in summary and "duration 2.00s" in summary and "2 scenes" in summary
    # The progress bar, in V2's spelling (a fast job may pass a status between two redraws: only the end is sure).
    assert "done" in result.stderr and "DONE" not in result.stderr

    stream = video_stream(output)
    assert (stream.width, stream.height) == (1080, 1920)
    assert abs(stream.frames - 60) <= 1 and abs(stream.duration_seconds - 2.0) <= 1 / 30
    frames = decode_frames(output, {10, 50})
    assert not _is_yellow(frames[10]) and _is_yellow(frames[50])  # the image's scene, then the clip's
    assert output.with_name("v2.thumbnail.jpg").read_bytes()[:3] == b"\xff\xd8\xff"
    assert "Sunny side up." in output.with_name("v2.srt").read_text()
    assert json.loads(output.with_name("v2.metadata.json").read_text())["output"]["frames"] == stream.frames


def _scene(scene_id: int, duration: int, media: dict, **fields: object) -> dict:
    return {"id": scene_id, "description": f"Scene {scene_id}", "duration": duration, "media": media,
            "caption": "", "transition": "cut"} | fields  # fmt: skip


def test_render_v2_scene_graph_file_with_local_media(media_dir: Path, tmp_path: Path) -> None:
    graphs = tmp_path / "graphs"
    graphs.mkdir()
    make_test_clip(graphs / "clip.mp4", seconds=1.0, fps=24, size=(640, 360), colours=[YELLOW])
    overlay = {"type": "logo", "asset": str(media_dir / "product_2.png"), "position": "top-right", "scale": 0.5}
    graph = {
        "version": "2.0",
        "scenes": [
            _scene(
                1,
                1500,
                {"type": "image", "asset": str(media_dir / "product_0.png"), "effect": "static"},
                caption="Made to last",
                overlays=[overlay],
            ),
            _scene(2, 1000, {"type": "video", "asset": "clip.mp4"}),  # relative to the scene graph's folder
        ],
    }
    (graphs / "launch.json").write_text(json.dumps(graph))
    output = tmp_path / "graph.mp4"
    result = _render_v2("--scene-graph", "graphs/launch.json", "-o", str(output), cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "duration 2.50s" in result.stdout and "2 scenes" in result.stdout

    stream = video_stream(output)
    assert (stream.width, stream.height, stream.frames) == (1080, 1920, 75)  # 2500 ms at 30 fps
    frames = decode_frames(output, {20, 60})
    blue = frames[20][..., 2].astype(int) - frames[20][..., 0] > 80  # the logo, on the red product image
    assert blue[:480, 810:].mean() > 0.05 and not blue[480:].any()
    assert not _is_yellow(frames[20]) and _is_yellow(frames[60])
    assert "Made to last" in output.with_name("graph.srt").read_text()


def test_render_v2_lists_every_scene_graph_problem(tmp_path: Path) -> None:
    graph = {
        "version": "2.0",
        "scenes": [
            _scene(1, 500, {"type": "image"}),
            _scene(2, 1500, {"type": "image"}, transition="wobble"),
            _scene(3, 1500, {"type": "image"}, overlays=[{"type": "logo", "asset": "x.png", "position": "middle"}]),
        ],
    }
    (tmp_path / "bad.json").write_text(json.dumps(graph))
    result = _render_v2("--scene-graph", "bad.json", cwd=tmp_path, timeout=60)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr and len(result.stderr.strip().splitlines()) == 1
    for problem in ("scenes/0/duration", "scenes/1/transition", "scenes/2/overlays/0/position"):
        assert problem in result.stderr

    graph["scenes"] = [_scene(1, 1500, {"type": "image", "asset": "missing.png"})]
    (tmp_path / "missing.json").write_text(json.dumps(graph))
    missing = _render_v2("--scene-graph", "missing.json", cwd=tmp_path, timeout=60)
    assert missing.returncode == 2 and "no such file: missing.png" in missing.stderr
    assert "Traceback" not in missing.stderr


def test_render_v2_speaks_a_voice_script_over_a_library_track(tmp_path: Path) -> None:
    script = "Meet the grinder that wakes up before you do. Order yours today."
    result = subprocess.run(
        [str(PYTOON), "render-v2", "--prompt", "Fresh coffee.", "--voice-script", script, "--music", "lofi_chill"]
        + ["--duration", "2", "-o", "out/voiced.mp4"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "PYTOON_TTS_PROVIDERS": "espeak"},  # never a developer's own provider key
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert "spoken by espeak" in result.stdout and "the video lasts" in result.stdout
    output = tmp_path / "out" / "voiced.mp4"
    metadata = json.loads(output.with_name("voiced.metadata.json").read_text())
    spoken = metadata["voiceover"]
    assert [s["text"] for s in spoken["sentences"]] == [
        "Meet the grinder that wakes up before you do.",
        "Order yours today.",
    ]
    # Two seconds were asked for; the video follows the voice to the next whole second after its tail.
    assert metadata["output"]["duration_seconds"] > spoken["duration_seconds"] > 2
    assert metadata["spec"]["music"] == "library/music/lofi_chill.mp3"
    srt = output.with_name("voiced.srt").read_text()
    assert "Meet the grinder that wakes up before you do." in srt and "Order yours today." in srt


def test_render_v2_refuses_a_voice_script_too_long_to_speak(tmp_path: Path) -> None:
    result = _render_v2("--prompt", "Hi.", "--voice-script", "A long sentence is spoken here. " * 40, cwd=tmp_path)
    assert result.returncode == 2
    assert "voice_script takes about" in result.stderr and "Traceback" not in result.stderr


def test_render_v2_refuses_a_scene_graph_with_a_prompt(tmp_path: Path) -> None:
    (tmp_path / "graph.json").write_text(json.dumps({"version": "2.0", "scenes": [_scene(1, 1500, {"type": "image"})]}))
    result = _render_v2("--scene-graph", "graph.json", "--prompt", "Hello.", cwd=tmp_path, timeout=120)
    assert result.returncode == 2
    assert "prompt cannot be combined with scene_graph" in result.stderr and "Traceback" not in result.stderr
    assert not list(tmp_path.glob("**/*.mp4"))


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Serve:
    """A `pytoon serve` child process, read line by line until its API line appears."""

    def __init__(self, tmp_path: Path, *args: str, env: dict[str, str] | None = None) -> None:
        self.api_port = _free_port()
        environment = {k: v for k, v in os.environ.items() if k not in ("API_KEY", "API_KEYS", "AWS_ENDPOINT_URL")}
        environment |= {"PYTOON_STATE_DIR": str(tmp_path / "state"), **(env or {})}
        self.process = subprocess.Popen(
            [str(PYTOON), "serve", "--port", str(self.api_port), *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=environment,
        )
        self.lines: list[str] = []
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.append(line)
            if line.startswith("API:"):
                break
        assert self.lines and self.lines[-1].startswith("API:"), self.stop()
        self.endpoint = next(line.split()[3] for line in self.lines if line.startswith("Embedded AWS endpoint:"))

    def get(self, path: str, **kwargs: object) -> httpx.Response:
        return httpx.get(f"http://127.0.0.1:{self.api_port}{path}", timeout=30, **kwargs)  # type: ignore[arg-type]

    def stop(self) -> str:
        """Interrupt as Ctrl-C does; returns stderr."""
        self.process.send_signal(signal.SIGINT)
        _, stderr = self.process.communicate(timeout=60)
        return stderr


def test_two_serves_side_by_side_each_get_their_own_free_embedded_port(tmp_path: Path) -> None:
    first = Serve(tmp_path)
    try:
        second = Serve(tmp_path)
        try:
            assert first.endpoint != second.endpoint
            for serve in (first, second):
                assert serve.get("/health").json()["status"] == "ok"
                # The endpoint really is embedded AWS, reachable by any AWS client.
                sfn = boto3.client(
                    "stepfunctions",
                    region_name="us-east-1",
                    endpoint_url=serve.endpoint,
                    aws_access_key_id="any",
                    aws_secret_access_key="any",
                )
                machines = [m["name"] for m in sfn.list_state_machines()["stateMachines"]]
                assert sorted(machines) == ["ProductionRunStateMachine", "RenderJobStateMachine"]
        finally:
            second.stop()
    finally:
        stderr = first.stop()
    assert first.process.returncode == 0
    assert "in memory" in stderr and "are gone" in stderr  # the one-line warning


def test_a_taken_port_is_a_clear_error_not_a_hang(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        environment = {**os.environ, "PYTOON_STATE_DIR": str(tmp_path)}
        aws_busy = subprocess.run(
            [str(PYTOON), "serve", "--port", str(_free_port()), "--aws-port", str(port)],
            capture_output=True,
            text=True,
            timeout=60,
            env=environment,
        )
        api_busy = subprocess.run(
            [str(PYTOON), "serve", "--port", str(port)], capture_output=True, text=True, timeout=60, env=environment
        )
    assert aws_busy.returncode == 1
    assert f"port {port} on 127.0.0.1 is already in use" in aws_busy.stderr and "Traceback" not in aws_busy.stderr
    assert api_busy.returncode == 1
    assert f"cannot serve the API on 127.0.0.1:{port}" in api_busy.stderr and "Traceback" not in api_busy.stderr


def test_keys_local_finds_the_running_serve_through_its_state_file(tmp_path: Path) -> None:
    serve = Serve(tmp_path, env={"API_KEYS": "acme:acme-key-0001"})
    environment = {**os.environ, "PYTOON_STATE_DIR": str(tmp_path / "state")}
    state_file = tmp_path / "state" / f"serve-{serve.api_port}.json"
    try:
        assert json.loads(state_file.read_text())["endpoint_url"] == serve.endpoint
        created = subprocess.run(
            [str(PYTOON), "keys", "--local", "--port", str(serve.api_port), "create", "--tenant", "beta"],
            capture_output=True,
            text=True,
            timeout=60,
            env=environment,
        )
        assert created.returncode == 0, created.stderr
        new_key = created.stdout.split("api key", 1)[1].split()[0]
        assert serve.get("/api/v1/presets", headers={"X-API-Key": new_key}).status_code == 200
        # API_KEYS is set, so the development key is not seeded.
        assert serve.get("/api/v1/presets", headers={"X-API-Key": "acme-key-0001"}).status_code == 200
        assert serve.get("/api/v1/presets", headers={"X-API-Key": "dev-key-change-me"}).status_code == 401
        assert "development key" not in "".join(serve.lines)
    finally:
        serve.stop()
    assert not state_file.exists()  # removed on exit
    gone = subprocess.run(
        [str(PYTOON), "keys", "--local", "--port", str(serve.api_port), "list"],
        capture_output=True,
        text=True,
        timeout=60,
        env=environment,
    )
    assert gone.returncode == 1 and "no running `pytoon serve`" in gone.stderr


def test_serve_seeds_the_development_key_only_without_configured_keys(tmp_path: Path) -> None:
    serve = Serve(tmp_path)
    try:
        assert "development key: X-API-Key: dev-key-change-me" in serve.lines[-1]
        assert serve.get("/api/v1/presets", headers={"X-API-Key": "dev-key-change-me"}).status_code == 200
    finally:
        serve.stop()


def test_serve_with_fake_providers_generates_scenes_on_one_machine(tmp_path: Path) -> None:
    # Every provider variable unset: only --fake-providers configures the engines.
    cleared = {k: "" for k in os.environ if k.startswith(("RUNWAY_", "LUMA_", "PIKA_", "OPENAI_", "PYTOON_TTS_"))}
    serve = Serve(tmp_path, "--fake-providers", env=cleared)
    try:
        fakes = [line for line in serve.lines if line.startswith("fake ")]
        assert [line.split()[1] for line in fakes] == ["runway", "luma", "pika", "sora", "upload-post", "llm"]
        headers = {"X-API-Key": "dev-key-change-me"}
        created = httpx.post(
            f"http://127.0.0.1:{serve.api_port}/api/v2/jobs",
            json={"prompt": "A lake at dawn.", "engine_override": "luma", "target_duration_seconds": 2},
            headers=headers,
            timeout=30,
        )
        assert created.status_code == 202, created.text
        job_id = created.json()["job_id"]
        for _ in range(120):  # once a second: the development key allows 60 requests a minute
            job = serve.get(f"/api/v2/jobs/{job_id}", headers=headers).json()
            if job["status"] in ("done", "failed"):
                break
            time.sleep(1)
        assert job["status"] == "done", job["error"]
        assert job["scenes"][0]["engine_used"] == "luma" and not job["fallback_used"]
    finally:
        serve.stop()


def test_serve_takes_provider_webhooks_on_the_api_port_as_api_gateway_routes_them(tmp_path: Path) -> None:
    serve = Serve(tmp_path, env={"SORA_WEBHOOK_SECRET": WEBHOOK_SECRET})
    url = f"http://127.0.0.1:{serve.api_port}/v1/webhooks/sora"
    body = json.dumps({"id": "evt_cli", "type": "video.completed", "data": {"id": "video_nobody_waits_on"}})
    sent_at = datetime.now(UTC)
    headers = {"webhook-id": "msg_cli", "webhook-timestamp": str(int(sent_at.timestamp()))}
    signature = Webhook(WEBHOOK_SECRET).sign("msg_cli", sent_at, body)
    try:
        assert f"POST http://127.0.0.1:{serve.api_port}/v1/webhooks/{{provider}}" in "".join(serve.lines)
        # WebhooksFunction verified it and found no task waiting on that video (the API has no such route).
        signed = httpx.post(url, content=body, headers=headers | {"webhook-signature": signature}, timeout=30)
        assert (signed.status_code, signed.json()) == (200, {"status": "unknown_task"})
        forged = httpx.post(url, content=body, headers=headers | {"webhook-signature": "v1,Zm9yZ2Vk"}, timeout=30)
        assert (forged.status_code, forged.json()) == (401, {"detail": "no valid signature"})
    finally:
        serve.stop()


def _runs(*args: str, api_url: str) -> subprocess.CompletedProcess[str]:
    """`pytoon runs …` against `api_url` with no key given: the development key the serve seeded."""
    environment = {k: v for k, v in os.environ.items() if k != "PYTOON_API_KEY"} | {"PYTOON_API_URL": api_url}
    return subprocess.run([str(PYTOON), "runs", *args], capture_output=True, text=True, timeout=300, env=environment)


def test_runs_start_wait_follows_a_run_on_a_serve_to_its_ideation_gate(tmp_path: Path) -> None:
    # The rules ideator: a developer's LLM or publishing settings stay out of the serve.
    cleared = {k: "" for k in os.environ if k.startswith(("PYTOON_PLANNER_LLM_", "UPLOAD_POST_"))}
    serve = Serve(tmp_path, env=cleared)
    api_url = f"http://127.0.0.1:{serve.api_port}"
    try:
        started = _runs("start", "--project", "motivational", "--brief", "Keep going when it gets hard", "--wait",
                        api_url=api_url)  # fmt: skip
        assert started.returncode == 0, started.stderr
        run_id, waiting = started.stdout.splitlines()
        assert waiting.startswith(f"waiting at the ideation gate: pytoon runs show {run_id}")
        assert started.stderr.splitlines()[-1].endswith("awaiting_ideation_approval  (ideation_approval)")
        shown = _runs("show", run_id, api_url=api_url)
        assert shown.returncode == 0, shown.stderr
        assert "status    awaiting_ideation_approval" in shown.stdout and "\nideas:\n" in shown.stdout
        listed = _runs("list", "--status", "awaiting_ideation_approval", api_url=api_url)
        assert run_id in listed.stdout
        early = _runs("approve", run_id, "--gate", "publish", api_url=api_url)
        assert early.returncode == 1 and "Traceback" not in early.stderr
        assert f"run {run_id} is awaiting_ideation_approval, not waiting at the publish gate" in early.stderr
    finally:
        serve.stop()
