"""`pytoon` command line: render one job or serve the API, both on embedded AWS."""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from pytoon.assets import AssetCategory, AssetRejectedError, store_upload
from pytoon.aws import keys
from pytoon.aws.apikeys import ApiKeyRepository
from pytoon.aws.jobs import JobRecord, JobRepository
from pytoon.aws.storage import ArtifactStore
from pytoon.config import get_settings
from pytoon.limits import MAX_DURATION_SECONDS, MIN_DURATION_SECONDS
from pytoon.local.embedded import BUCKET_NAME, EMBEDDED_TABLE, FAKE_ACCOUNT_ENV, EmbeddedAWS
from pytoon.models import JobStatus
from pytoon.presets import all_presets
from pytoon.submission import JobRequest, submit_request

LOCAL_TENANT = "local"
DEFAULT_DEV_KEY = "dev-key-change-me"
RENDER_TIMEOUT_SECONDS = 30 * 60


def _progress_bar(record: JobRecord, started: float) -> str:
    width = 30
    filled = int(width * record.progress_pct / 100)
    bar = "█" * filled + "░" * (width - filled)
    return f"\r{bar} {record.progress_pct:5.1f}%  {record.status.value:<18} {time.monotonic() - started:6.1f}s"


def _upload(path: Path, category: AssetCategory) -> str:
    record = store_upload(tenant_id=LOCAL_TENANT, category=category, filename=path.name, data=path.read_bytes())
    return record.key


def _sidecar(output: Path, suffix: str) -> Path:
    return output.with_name(output.stem + suffix)


def render_job(args: argparse.Namespace) -> int:
    output = Path(args.output).resolve()
    output.parent.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    with EmbeddedAWS():
        settings = get_settings()
        # Validation decodes every file in full: do it for all of them at once.
        with ThreadPoolExecutor(max_workers=4) as pool:
            image_uploads = [pool.submit(_upload, Path(p), AssetCategory.IMAGE) for p in args.image]
            music_upload = pool.submit(_upload, Path(args.music), AssetCategory.AUDIO) if args.music else None
            voice_upload = pool.submit(_upload, Path(args.voice), AssetCategory.AUDIO) if args.voice else None
            images = [upload.result() for upload in image_uploads]
            music = music_upload.result() if music_upload else None
            voice = voice_upload.result() if voice_upload else None
        request = JobRequest(
            preset_id=args.preset,
            prompt=args.prompt,
            target_duration_seconds=args.duration,
            image_uris=images,
            music_uri=music,
            voice_uri=voice,
        )
        record = submit_request(request, tenant_id=LOCAL_TENANT, settings=settings)
        jobs = JobRepository.from_settings(settings)
        while not record.status.terminal and time.monotonic() - started < RENDER_TIMEOUT_SECONDS:
            time.sleep(0.25)
            record = jobs.get(record.job_id)
            print(_progress_bar(record, started), end="", file=sys.stderr, flush=True)
        print(file=sys.stderr)
        if record.status is not JobStatus.DONE:
            reason = record.error or f"timed out after {RENDER_TIMEOUT_SECONDS}s in {record.status.value}"
            print(f"FAILED: {reason}", file=sys.stderr)
            return 1
        store = ArtifactStore.from_settings(settings)
        job_id = record.job_id
        store.download(keys.output_key(job_id), output)
        store.download(keys.thumbnail_key(job_id), _sidecar(output, ".thumbnail.jpg"))
        store.download(keys.captions_key(job_id), _sidecar(output, ".srt"))
        store.download(keys.metadata_key(job_id), _sidecar(output, ".metadata.json"))
    wall = time.monotonic() - started
    print(f"{output}  duration {record.target_duration_seconds:.2f}s  1080x1920  wall time {wall:.1f}s")
    return 0


def demo(args: argparse.Namespace) -> int:
    """Render the bundled example: generated product shots and a music bed, no input needed."""
    from pytoon.demo import DEMO_PROMPT, write_demo_assets

    with tempfile.TemporaryDirectory() as tmp:
        assets = write_demo_assets(Path(tmp))
        render_args = argparse.Namespace(
            prompt=DEMO_PROMPT,
            image=[str(p) for p in assets.images],
            music=str(assets.music),
            voice=None,
            preset=args.preset,
            duration=args.duration,
            output=args.output,
        )
        return render_job(render_args)


def serve(args: argparse.Namespace) -> int:
    import uvicorn

    from pytoon.api.app import create_app

    os.environ.setdefault("API_KEY", DEFAULT_DEV_KEY)
    with EmbeddedAWS(port=args.aws_port) as embedded:
        stack = embedded.stack
        assert stack is not None
        print(f"Embedded AWS endpoint: {stack.endpoint_url}  (region {stack.region}, any credentials)")
        print(f"  state machine: {stack.render_state_machine_arn}")
        print(f"  bucket: {stack.bucket_name}   table: {stack.table_names['JobsTable']}")
        print(
            f"  e.g. aws --endpoint-url {stack.endpoint_url} stepfunctions list-executions "
            f"--state-machine-arn {stack.render_state_machine_arn}"
        )
        print(
            f"API: http://{args.host}:{args.port}  (docs at /docs; development key: X-API-Key: {os.environ['API_KEY']})"
        )
        sys.stdout.flush()
        uvicorn.run(create_app(), host=args.host, port=args.port, log_level="warning")
    return 0


def keys_command(args: argparse.Namespace) -> int:
    """Manage API keys in the configured table (`--local`: the embedded AWS of a running `pytoon serve`)."""
    if args.local:
        os.environ.update(
            {
                "AWS_ENDPOINT_URL": f"http://127.0.0.1:{args.aws_port}",
                "PYTOON_TABLE_NAME": EMBEDDED_TABLE,
                "PYTOON_BUCKET_NAME": BUCKET_NAME,
            }
        )
        for name, value in FAKE_ACCOUNT_ENV.items():
            os.environ.setdefault(name, value)
    repo = ApiKeyRepository.from_settings(get_settings())
    if args.keys_command == "create":
        issued = repo.create(args.tenant, args.rate_limit)
        print(f"key id  {issued.record.key_id}\ntenant  {issued.record.tenant_id}\napi key {issued.api_key}")
        print("The key is shown once; only its hash is stored.", file=sys.stderr)
    elif args.keys_command == "revoke":
        record = repo.revoke(args.key_id)
        if record is None:
            print(f"no key {args.key_id}", file=sys.stderr)
            return 1
        print(f"revoked {record.key_id} (tenant {record.tenant_id})")
    else:
        for record in repo.list():
            state = "revoked" if record.revoked else "active"
            print(f"{record.key_id}  {record.tenant_id:<20} {record.rate_limit_per_minute:>6}/min  {state}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="pytoon", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    preset_ids = [p.id for p in all_presets()]

    render = commands.add_parser("render", help="render one job end to end on embedded AWS")
    render.add_argument("--prompt", required=True)
    render.add_argument("--image", action="append", default=[], help="product image (repeatable, used in order)")
    render.add_argument("--music", help="music track (MP3/WAV)")
    render.add_argument("--voice", help="voiceover (MP3/WAV)")
    render.add_argument("--preset", default="product_hero_clean", choices=preset_ids)
    render.add_argument("--duration", type=int, default=15, help="seconds, 1-60")
    render.add_argument("-o", "--output", default="out/video.mp4")
    render.set_defaults(run=render_job)

    demo_cmd = commands.add_parser("demo", help="render the bundled example (generated images and music)")
    demo_cmd.add_argument("--preset", default="overlay_glow", choices=preset_ids)
    demo_cmd.add_argument("--duration", type=int, default=15)
    demo_cmd.add_argument("-o", "--output", default="out/demo.mp4")
    demo_cmd.set_defaults(run=demo)

    serve_cmd = commands.add_parser("serve", help="serve the HTTP API on embedded AWS")
    serve_cmd.add_argument("--host", default="127.0.0.1")
    serve_cmd.add_argument("--port", type=int, default=8080)
    serve_cmd.add_argument("--aws-port", type=int, default=4566, help="port of the embedded AWS endpoint")
    serve_cmd.set_defaults(run=serve)

    keys_cmd = commands.add_parser("keys", help="create, revoke and list API keys")
    keys_cmd.add_argument("--local", action="store_true", help="use a running `pytoon serve`'s embedded AWS")
    keys_cmd.add_argument("--aws-port", type=int, default=4566)
    keys_sub = keys_cmd.add_subparsers(dest="keys_command", required=True)
    create = keys_sub.add_parser("create", help="create a key for a tenant (shown once)")
    create.add_argument("--tenant", required=True)
    create.add_argument("--rate-limit", type=int, default=60, help="requests per minute")
    revoke = keys_sub.add_parser("revoke", help="revoke a key by id")
    revoke.add_argument("key_id")
    keys_sub.add_parser("list", help="list keys (never their secrets)")
    keys_cmd.set_defaults(run=keys_command)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if not MIN_DURATION_SECONDS <= getattr(args, "duration", 15) <= MAX_DURATION_SECONDS:
        print(f"--duration must be between {MIN_DURATION_SECONDS} and {MAX_DURATION_SECONDS} seconds", file=sys.stderr)
        return 2
    for path in [*getattr(args, "image", []), getattr(args, "music", None), getattr(args, "voice", None)]:
        if path and not Path(path).is_file():
            print(f"no such file: {path}", file=sys.stderr)
            return 2
    try:
        return args.run(args)
    except AssetRejectedError as exc:
        print(f"input rejected: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
