"""A fake of the self-hosted Remotion render service on 127.0.0.1, a real HTTP server in a thread.

It checks a request as the service does: `Authorization: Bearer <key>` or `x-api-key: <key>` (401
`{"error": "unauthorized"}` otherwise; `/health` needs none). `POST /api/render` takes `{run_id, template,
clips, texts, duration_seconds, fps, width, height, callback_url}` and answers 202 `{job_id, status: "queued",
template}`, or 400 `{error}` as the service words it (no template, an unknown template, no clips, a template
render not at 30 fps, a callback URL that is not on the allowlist: http(s) on localhost and 127.0.0.1, or https
on a host of `callback_hosts` or a subdomain of one), or 429
`{"error": "render_queue_full"}` when scripted.

A queued job renders in a thread with the bundled ffmpeg: each clip is fetched from its URL, fitted to the
frame (scaled to cover, centre-cropped) and shown for an equal share of `duration_seconds`, at `fps`; the texts
are recorded, not drawn. `GET /api/render/{job_id}` reports `{status: queued|rendering|done|error, progress,
output_url, template, error}` (404 `{"error": "job not found"}`), `GET /output/{job_id}.mp4` serves the video
(with the key, as when the service's output is not public). When the job ends, one POST goes to its
`callback_url`, as the service sends it: `{job_id, run_id, status: done|error, output_url, error}` with
`x-remotion-signature: sha512=<hex HMAC-SHA512 of the body>`, no retries.

    with fake_remotion_service() as fake:
        fake.fail_next("Chromium crashed")    # or fake.drop_callbacks(), fake.queue_full(), fake.slow(5)
        monkeypatch.setenv("REMOTION_BASE_URL", fake.base_url)
        monkeypatch.setenv("REMOTION_API_KEY", fake.api_key)
        monkeypatch.setenv("REMOTION_WEBHOOK_SECRET", fake.webhook_secret)
        ...
        fake.renders[0].body, fake.callbacks    # what the client sent, what the fake called back with
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
import shutil
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx

from pytoon.local.fakes.loopback import LoopbackFake, ReceivedRequest, Reply, serve
from pytoon.render.ffmpeg import media_input, output_target, run_ffmpeg

DEFAULT_API_KEY = "fake-remotion-key"
TEMPLATES = ("aismr", "motivational")
RENDER_PATH = "/api/render"
OUTPUT_PATH = "/output/"
CALLBACK_TIMEOUT_SECONDS = 5.0
RENDER_TIMEOUT_SECONDS = 300.0
_LOCAL_HOSTS = frozenset({"localhost", "127.0.0.1"})


@dataclass(frozen=True)
class ReceivedRender:
    job_id: str
    body: dict[str, Any]


@dataclass(frozen=True)
class SentCallback:
    url: str
    body: bytes
    signature: str
    status_code: int | None  # None when the receiver could not be reached


@dataclass
class _Job:
    job_id: str
    body: dict[str, Any]
    status: str = "queued"
    progress: float = 0.0
    error: str | None = None
    video: Path | None = None


@dataclass
class _Script:
    failures: list[str] = field(default_factory=list)
    queue_full: int = 0
    drop_callbacks: bool = False
    delay_seconds: float = 0.0


def _error(status: int, message: str) -> Reply:
    return Reply.json(status, {"error": message})


class FakeRemotionService(LoopbackFake):
    def __init__(self, api_key: str = DEFAULT_API_KEY, callback_hosts: tuple[str, ...] = ()) -> None:
        super().__init__()
        self.api_key = api_key
        self.callback_hosts = callback_hosts
        self.webhook_secret = secrets.token_hex(16)
        self.renders: list[ReceivedRender] = []
        self.callbacks: list[SentCallback] = []
        self._jobs: dict[str, _Job] = {}
        self._script = _Script()
        self._workers: list[threading.Thread] = []
        self.output_dir = Path(tempfile.mkdtemp(prefix="fake-remotion-"))

    # --- scripting -------------------------------------------------------------------------------------

    def fail_next(self, error: str) -> None:
        """The next job queued ends `error` with this message (after its render time)."""
        with self.lock:
            self._script.failures.append(error)

    def queue_full(self, times: int = 1) -> None:
        """The next `times` render requests are refused 429 render_queue_full."""
        with self.lock:
            self._script.queue_full += times

    def drop_callbacks(self) -> None:
        """Jobs from now on end without calling back (a callback lost on the way)."""
        with self.lock:
            self._script.drop_callbacks = True

    def slow(self, seconds: float) -> None:
        """Jobs from now on stay `rendering` this long before they are rendered."""
        with self.lock:
            self._script.delay_seconds = seconds

    def wait_idle(self, timeout: float = RENDER_TIMEOUT_SECONDS) -> None:
        """Until every queued job has ended and called back."""
        for worker in list(self._workers):
            worker.join(timeout)

    def signature(self, body: bytes) -> str:
        return "sha512=" + hmac.new(self.webhook_secret.encode(), body, hashlib.sha512).hexdigest()

    # --- the API ---------------------------------------------------------------------------------------

    def respond(self, request: ReceivedRequest) -> Reply:
        if request.method == "GET" and request.path == "/health":
            with self.lock:
                queued = sum(job.status in ("queued", "rendering") for job in self._jobs.values())
                health = {"status": "ok", "queued": queued, "pending": queued, "totalJobs": len(self._jobs)}
            return Reply.json(200, health)
        authorised = (request.headers.get("authorization") == f"Bearer {self.api_key}") or (
            request.headers.get("x-api-key") == self.api_key
        )
        if not authorised:
            return _error(401, "unauthorized")
        if request.method == "POST" and request.path == RENDER_PATH:
            return self._queue(request)
        if request.method == "GET" and request.path.startswith(RENDER_PATH + "/"):
            return self._status(request.path.removeprefix(RENDER_PATH + "/"))
        if request.method == "GET" and request.path.startswith(OUTPUT_PATH) and request.path.endswith(".mp4"):
            return self._output(request.path.removeprefix(OUTPUT_PATH).removesuffix(".mp4"))
        return _error(404, f"Cannot {request.method} {request.path}")

    def _queue(self, request: ReceivedRequest) -> Reply:
        body = request.json
        if not isinstance(body, dict):
            return _error(400, "invalid JSON body")
        refusal = _refusal(body, self.callback_hosts)
        if refusal:
            return _error(400, refusal)
        with self.lock:
            if self._script.queue_full:
                self._script.queue_full -= 1
                return _error(429, "render_queue_full")
            job = _Job(job_id=secrets.token_hex(8), body=body)
            self._jobs[job.job_id] = job
            self.renders.append(ReceivedRender(job.job_id, body))
            failure = self._script.failures.pop(0) if self._script.failures else None
        worker = threading.Thread(target=self._render, args=(job, failure), name=f"remotion-{job.job_id}", daemon=True)
        self._workers.append(worker)
        worker.start()
        return Reply.json(202, {"job_id": job.job_id, "status": "queued", "template": body.get("template")})

    def _status(self, job_id: str) -> Reply:
        with self.lock:
            job = self._jobs.get(job_id)
            if job is None:
                return _error(404, "job not found")
            return Reply.json(
                200,
                {
                    "status": job.status,
                    "progress": job.progress,
                    "output_url": self._output_url(job) if job.status == "done" else None,
                    "template": job.body.get("template"),
                    "error": job.error,
                },
            )

    def _output(self, job_id: str) -> Reply:
        with self.lock:
            job = self._jobs.get(job_id)
            video = job.video if job is not None and job.status == "done" else None
        if video is None:
            return _error(404, "not found")
        return Reply(200, video.read_bytes(), "video/mp4")

    def _output_url(self, job: _Job) -> str:
        return f"{self.base_url}{OUTPUT_PATH}{job.job_id}.mp4"

    # --- rendering -------------------------------------------------------------------------------------

    def _render(self, job: _Job, failure: str | None) -> None:
        with self.lock:
            job.status, job.progress = "rendering", 0.1
            delay = self._script.delay_seconds
        if delay and self.stopping.wait(delay):
            return
        try:
            if failure is not None:
                raise RuntimeError(failure)
            video = self._compose(job)
        except Exception as exc:  # noqa: BLE001 (the service reports any failure as the job's error)
            with self.lock:
                job.status, job.error = "error", str(exc)[:300]
        else:
            with self.lock:
                job.status, job.progress, job.video = "done", 1.0, video
        self._call_back(job)

    def _compose(self, job: _Job) -> Path:
        body = job.body
        work = self.output_dir / job.job_id
        work.mkdir(parents=True, exist_ok=True)
        clips = []
        with httpx.Client(timeout=30) as http:
            for n, url in enumerate(body["clips"]):
                response = http.get(url)
                if response.status_code != 200:
                    raise RuntimeError(f"clip {n + 1} could not be fetched (HTTP {response.status_code})")
                clip = work / f"clip_{n}.mp4"
                clip.write_bytes(response.content)
                clips.append(clip)
        width, height, fps = int(body.get("width", 1080)), int(body.get("height", 1920)), int(body.get("fps", 30))
        share = float(body.get("duration_seconds") or 10) / len(clips)
        fitted = [
            f"[{n}:v]scale={width}:{height}:force_original_aspect_ratio=increase,crop={width}:{height},setsar=1,"
            f"fps={fps},tpad=stop_mode=clone:stop_duration={share},trim=duration={share},setpts=PTS-STARTPTS[v{n}]"
            for n in range(len(clips))
        ]
        joined = "".join(f"[v{n}]" for n in range(len(clips))) + f"concat=n={len(clips)}:v=1:a=0[out]"
        video = work / "out.mp4"
        inputs = [arg for clip in clips for arg in media_input(clip)]
        run_ffmpeg(
            [*inputs, "-filter_complex", ";".join([*fitted, joined]), "-map", "[out]", "-r", str(fps),
             "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", "-movflags", "+faststart",
             "-y", output_target(video)],
            timeout=RENDER_TIMEOUT_SECONDS,
            label="fake Remotion render",
        )  # fmt: skip
        return video

    def _call_back(self, job: _Job) -> None:
        with self.lock:
            if self._script.drop_callbacks or not job.body.get("callback_url"):
                return
            document = {
                "job_id": job.job_id,
                "run_id": job.body.get("run_id"),
                "status": job.status,
                "output_url": self._output_url(job) if job.status == "done" else None,
                "error": job.error,
            }
        body = json.dumps(document).encode()
        url, signature = str(job.body["callback_url"]), self.signature(body)
        status: int | None = None
        try:
            headers = {"content-type": "application/json", "x-remotion-signature": signature}
            status = httpx.post(url, content=body, headers=headers, timeout=CALLBACK_TIMEOUT_SECONDS).status_code
        except httpx.HTTPError:
            pass  # the service does not retry
        with self.lock:
            self.callbacks.append(SentCallback(url, body, signature, status))


def _refusal(body: dict[str, Any], callback_hosts: tuple[str, ...]) -> str | None:
    """Why the service refuses the render request, in its words, or None."""
    template = body.get("template")
    if not template and not body.get("composition_code"):
        return "Either template or composition_code is required"
    if body.get("composition_code"):
        return "composition_code is disabled without strict sandboxing; use template mode"
    if template not in TEMPLATES:
        return f"unknown template {template!r}"
    clips = body.get("clips")
    if not isinstance(clips, list) or not clips or not all(isinstance(clip, str) for clip in clips):
        return "clips must be a non-empty array"
    if body.get("fps", 30) != 30:
        return "template renders require fps=30 to match fixed timelines"
    callback = body.get("callback_url")
    if callback is not None and not _allowed_callback(str(callback), callback_hosts):
        return "callback_url is not allowlisted"
    return None


def _allowed_callback(url: str, callback_hosts: tuple[str, ...]) -> bool:
    parts = urlsplit(url)
    host = parts.hostname or ""
    if parts.scheme in ("http", "https") and host in _LOCAL_HOSTS:
        return True
    return parts.scheme == "https" and any(host == h or host.endswith(f".{h}") for h in callback_hosts)


@contextmanager
def fake_remotion_service(
    api_key: str = DEFAULT_API_KEY, callback_hosts: tuple[str, ...] = ()
) -> Iterator[FakeRemotionService]:
    fake = FakeRemotionService(api_key, callback_hosts)
    try:
        with serve(fake, name="fake-remotion") as running:
            yield running
            running.wait_idle()
    finally:
        shutil.rmtree(fake.output_dir, ignore_errors=True)
