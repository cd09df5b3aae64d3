"""Benchmark: the reference jobs through the whole pipeline vs one hand-written ffmpeg command vs MoviePy.

Every contender runs as its own child process, measured the same way: wall time, CPU time (process tree)
and peak resident memory (process tree, sampled). Prints figures and ratios; asserts nothing.

    make bench              # all contenders, every job
    make bytecode && python bench/run.py --quick   # the 15 s job and the V2 job, no MoviePy
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import httpx
import psutil

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"
MOVIEPY_PYTHON = HERE / ".venv-moviepy" / "bin" / "python"
PYTOON = Path(sys.executable).with_name("pytoon")
START_UP_RUNS = 5
sys.path.insert(0, str(HERE))

from cold_import import cold_import_cpu_seconds  # noqa: E402
from reference import V2_SENTENCES, v2_reference_job, write_inputs  # noqa: E402


@dataclass
class Measurement:
    contender: str
    job: str
    wall_seconds: float
    cpu_seconds: float
    peak_rss_mb: float
    details: dict

    def row(self) -> str:
        return (
            f"{self.job:<10} {self.contender:<16} {self.wall_seconds:8.1f} s {self.cpu_seconds:8.1f} s "
            f"{self.peak_rss_mb:8.0f} MB"
        )


def measure(
    contender: str, job: str, command: list[str], details: bool = True, env: dict[str, str] | None = None
) -> Measurement:
    """Run `command` (with `env` added to the environment); CPU from the reaped process tree, peak RSS of the
    tree sampled every 50 ms. With `details`, the command's last stdout line is its JSON details."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.monotonic()
    process = psutil.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env={**os.environ, **(env or {})}
    )
    peak_rss = 0
    done = threading.Event()

    def sample() -> None:
        nonlocal peak_rss
        while not done.is_set():
            rss = 0
            try:
                for proc in [process, *process.children(recursive=True)]:
                    try:
                        rss += proc.memory_info().rss
                    except psutil.Error:
                        continue
            except psutil.Error:
                pass
            peak_rss = max(peak_rss, rss)
            time.sleep(0.05)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    stdout, stderr = process.communicate()
    wall = time.monotonic() - started
    done.set()
    sampler.join()
    if process.returncode != 0:
        raise RuntimeError(f"{contender} failed ({process.returncode}): {stderr[-2000:]}")
    # Every descendant was waited for by its parent, so the child's rusage covers the whole tree.
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    found = json.loads(stdout.strip().splitlines()[-1]) if details and stdout.strip() else {}
    return Measurement(contender, job, wall, cpu, peak_rss / 2**20, found)


def render_one_second(inputs: Path, out: Path) -> Measurement:
    """`pytoon render` of a 1-second, one-image job, as a user runs it: the whole process, start-up included."""
    images, _, _ = write_inputs(inputs)
    command = [str(PYTOON), "render", "--prompt", "One second.", "--image", str(images[1]), "--duration", "1"]
    return measure("pytoon render", "1s-1img", [*command, "-o", str(out)], details=False)


def serve_until_health() -> float:
    """Seconds from launching `pytoon serve` to its first 200 on /health."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    started = time.monotonic()
    process = subprocess.Popen(
        [str(PYTOON), "serve", "--port", str(port)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        with httpx.Client(timeout=5) as http:
            while process.poll() is None:
                try:
                    if http.get(f"http://127.0.0.1:{port}/health").status_code == 200:
                        return time.monotonic() - started
                except httpx.TransportError:
                    time.sleep(0.01)  # not listening yet: this is the measurement's resolution
        raise RuntimeError(f"pytoon serve exited with {process.returncode} before answering /health")
    finally:
        process.send_signal(signal.SIGINT)
        process.wait(timeout=60)


def start_up_rows(inputs: Path) -> None:
    """Medians of START_UP_RUNS, after one render not counted: the first command after an install or a quiet
    spell reads the ffmpeg binary and the site-packages from disk, which every later one finds in memory."""
    render_one_second(inputs, RESULTS / "render-1s.mp4")
    renders = [render_one_second(inputs, RESULTS / "render-1s.mp4") for _ in range(START_UP_RUNS)]
    healths = [serve_until_health() for _ in range(START_UP_RUNS)]
    imports = cold_import_cpu_seconds(runs=START_UP_RUNS)
    walls = [render.wall_seconds for render in renders]
    print(f"start-up (medians of {START_UP_RUNS} runs after a warm-up render)")
    print(
        f"  pytoon render, 1 s one-image job, whole process: wall {statistics.median(walls):.2f} s "
        f"(min {min(walls):.2f}), cpu {statistics.median(render.cpu_seconds for render in renders):.2f} s"
    )
    health = statistics.median(healths)
    print(f"  pytoon serve, launch to first /health answer: {health:.2f} s (min {min(healths):.2f})")
    print(f"  API Lambda cold import: {statistics.median(imports):.3f} s CPU", flush=True)


def v2_rows(inputs: Path) -> list[Measurement]:
    """The V2 reference job with a spoken voiceover as a user runs it (`pytoon render-v2`, the whole process:
    start-up, validating and storing the media, speaking, planning, rendering, downloads) against the same
    offline voice and one hand-written ffmpeg command."""
    job = v2_reference_job(inputs)
    out = RESULTS / job.name
    out.mkdir(exist_ok=True)
    media = [arg for path in job.media for arg in ("--media", str(path))]
    render = [str(PYTOON), "render-v2", "--prompt", job.prompt, *media, "--music", str(job.music)]
    render += ["--voice-script", " ".join(V2_SENTENCES), "--duration", str(job.seconds), "-o", str(out / "pytoon.mp4")]
    # The product speaks offline here, as the baseline does, whatever provider keys the machine has.
    pytoon = measure("pytoon render-v2", job.name, render, details=False, env={"PYTOON_TTS_PROVIDERS": "espeak"})
    baseline = [sys.executable, str(HERE / "v2_baseline.py"), str(inputs), str(out / "by_hand.mp4")]
    by_hand = measure("espeak+ffmpeg", job.name, baseline, details=False)
    for m in (pytoon, by_hand):
        print(m.row(), flush=True)
    metadata = json.loads((out / "pytoon.metadata.json").read_text())
    print(
        f"  pytoon render-v2: {len(metadata['segments'])} scenes, {metadata['output']['duration_seconds']:.2f} s, "
        f"voiceover {metadata['voiceover']['duration_seconds']:.2f} s; by hand: {len(job.media)} parts"
    )
    print(
        f"  V2 with voiceover, whole process (start-up, uploads, speech, render, downloads) / espeak+ffmpeg: "
        f"wall {pytoon.wall_seconds / by_hand.wall_seconds:.2f}, cpu {pytoon.cpu_seconds / by_hand.cpu_seconds:.2f}, "
        f"memory {pytoon.peak_rss_mb / by_hand.peak_rss_mb:.2f}"
    )
    return [pytoon, by_hand]


def ensure_moviepy() -> bool:
    """MoviePy needs an older Pillow than Pytoon pins, so it gets its own virtualenv beside the benchmark."""
    if MOVIEPY_PYTHON.exists():
        return True
    try:
        subprocess.run([sys.executable, "-m", "venv", str(MOVIEPY_PYTHON.parent.parent)], check=True)
        subprocess.run(
            [
                str(MOVIEPY_PYTHON),
                "-m",
                "pip",
                "install",
                "--quiet",
                "moviepy==2.2.1",
                "imageio-ffmpeg==0.6.0",
                "numpy==2.4.6",
            ],
            check=True,
        )
    except subprocess.CalledProcessError as exc:
        print(f"MoviePy baseline unavailable: {exc}", file=sys.stderr)
        return False
    return True


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="the 15 s job and the V2 job, without MoviePy")
    parser.add_argument("--no-moviepy", action="store_true")
    args = parser.parse_args()

    RESULTS.mkdir(exist_ok=True)
    inputs = RESULTS / "inputs"
    jobs = ["15s-5seg"] if args.quick else ["15s-5seg", "60s-20seg"]
    with_moviepy = not (args.quick or args.no_moviepy) and ensure_moviepy()
    python = sys.executable
    print(f"machine: {os.cpu_count()} CPUs, {psutil.virtual_memory().total / 2**30:.0f} GiB")
    start_up_rows(inputs)
    print(f"{'job':<10} {'contender':<16} {'wall':>10} {'cpu':>10} {'peak RSS':>11}")
    measurements: list[Measurement] = []
    for job in jobs:
        out = RESULTS / job
        out.mkdir(exist_ok=True)
        runs = [
            (
                "pytoon",
                [python, str(HERE / "contenders.py"), "pytoon", job, str(inputs), str(out / "pytoon.mp4")],
            ),
            (
                "ffmpeg-1-command",
                [python, str(HERE / "contenders.py"), "ffmpeg", job, str(inputs), str(out / "ffmpeg.mp4")],
            ),
        ]
        if with_moviepy and job == "15s-5seg":
            runs.append(
                (
                    "moviepy",
                    [
                        str(MOVIEPY_PYTHON),
                        str(HERE / "moviepy_baseline.py"),
                        job,
                        str(inputs),
                        str(out / "moviepy.mp4"),
                    ],
                )
            )
        for contender, command in runs:
            m = measure(contender, job, command)
            measurements.append(m)
            print(m.row(), flush=True)
        steps = measure(
            "steps alone", job, [python, str(HERE / "contenders.py"), "steps", job, str(inputs), str(out / "step.mp4")]
        )
        baseline = {m.contender: m for m in measurements if m.job == job}
        pytoon = baseline["pytoon"]
        for name in ("ffmpeg-1-command", "moviepy"):
            if name in baseline:
                other = baseline[name]
                print(
                    f"  pytoon / {name}: wall {pytoon.wall_seconds / other.wall_seconds:.2f}, "
                    f"cpu {pytoon.cpu_seconds / other.cpu_seconds:.2f}, "
                    f"memory {pytoon.peak_rss_mb / other.peak_rss_mb:.2f}"
                )
        details = pytoon.details
        if "ffmpeg-1-command" in baseline:
            ratio = pytoon.wall_seconds / baseline["ffmpeg-1-command"].wall_seconds
            print(
                f"  R{job.split('s-')[0]} whole process (start-up, uploads, render, downloads) / ffmpeg-1-command: "
                f"wall {ratio:.2f}"
            )
        if details:
            print(
                f"  finished job seen {1000 * details['finished_seen_after_seconds']:.0f} ms after its final status "
                "was stored"
            )
            print(
                f"  pytoon: render wall {details['render_wall_seconds']:.1f} s, "
                f"assembly {details['assemble_seconds']:.2f} s, "
                f"slowest segment {details['slowest_segment_seconds']:.1f} s, segments' wall sum "
                f"{details['segment_seconds_total']:.1f} s"
            )
            for name in ("ffmpeg-1-command", "moviepy"):
                if name in baseline:
                    ratio = details["render_wall_seconds"] / baseline[name].wall_seconds
                    print(f"  pytoon render (submit to DONE, emulator already up) / {name}: wall {ratio:.2f}")
            # The cloud critical path: planning then the slowest segment on one branch, the soundtrack on the
            # other (each step in its own Lambda), then assembly. Step times come from running each step
            # alone; in the local pipeline run above they share 2 CPUs.
            plan, assemble = details["plan_seconds"], details["assemble_seconds"]
            segment_seconds, audio = steps.details["segment_seconds"], steps.details["audio_seconds"]
            critical = max(plan + max(segment_seconds), audio) + assemble
            single = plan + sum(segment_seconds) + audio + assemble
            print(
                f"  steps alone: segments {min(segment_seconds):.1f}-{max(segment_seconds):.1f} s each, "
                f"soundtrack {audio:.1f} s; peak memory of the process rendering them {steps.peak_rss_mb:.0f} MB"
            )
            print(
                f"  cloud critical path (max(plan + slowest segment, soundtrack) + assembly): {critical:.1f} s = "
                f"{100 * critical / single:.0f} % of the single-process time {single:.1f} s"
            )
    measurements += v2_rows(inputs)
    (RESULTS / "latest.json").write_text(json.dumps([m.__dict__ for m in measurements], indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
