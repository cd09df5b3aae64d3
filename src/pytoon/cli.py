"""`pytoon` command line: render one job or serve the API, both on embedded AWS.

Modules are imported inside the commands: `pytoon keys` need not load the renderer, and nothing is loaded
before the arguments are known to be valid.
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
import sys
import tempfile
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING

from pytoon.limits import MAX_DURATION_SECONDS, MIN_DURATION_SECONDS

if TYPE_CHECKING:
    from pytoon.assets import AssetCategory, CheckedUpload
    from pytoon.aws.jobs import JobRecord

LOCAL_TENANT = "local"
DEFAULT_DEV_KEY = "dev-key-change-me"
DEFAULT_API_PORT = 8080
RENDER_TIMEOUT_SECONDS = 30 * 60


class CommandError(RuntimeError):
    """A reason to stop with exit status 1 and this message (a port taken, no running serve…)."""


def _progress_bar(record: JobRecord, started: float) -> str:
    width = 30
    filled = int(width * record.progress_pct / 100)
    bar = "█" * filled + "░" * (width - filled)
    return f"\r{bar} {record.progress_pct:5.1f}%  {record.status.value:<18} {time.monotonic() - started:6.1f}s"


def _check(path: Path, category: AssetCategory) -> CheckedUpload:
    from pytoon.assets import check_upload

    return check_upload(category=category, filename=path.name, data=path.read_bytes())


def _store(check: Future[CheckedUpload]) -> str:
    from pytoon.assets import store_checked

    record = store_checked(check.result(), LOCAL_TENANT)
    return record.key


def _sidecar(output: Path, suffix: str) -> Path:
    return output.with_name(output.stem + suffix)


def _warn_in_memory() -> None:
    from pytoon.local.embedded import IN_MEMORY_WARNING

    print(f"note: {IN_MEMORY_WARNING}", file=sys.stderr, flush=True)


def render_job(args: argparse.Namespace) -> int:
    from pytoon.assets import AssetCategory, AssetRejectedError
    from pytoon.aws import keys
    from pytoon.aws.storage import ArtifactStore
    from pytoon.config import get_settings
    from pytoon.local.embedded import EmbeddedAWS
    from pytoon.local.progress import JobNotFinishedError, watch_job
    from pytoon.models import JobStatus
    from pytoon.submission import JobRequest, submit_request

    output = Path(args.output).resolve()
    output.parent.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    _warn_in_memory()
    # Validation decodes every file in full (in C, off the GIL): it runs for all files at once while the
    # embedded cloud starts, which needs none of them.
    checks = ThreadPoolExecutor(max_workers=4)
    image_checks = [checks.submit(_check, Path(p), AssetCategory.IMAGE) for p in args.image]
    music_check = checks.submit(_check, Path(args.music), AssetCategory.AUDIO) if args.music else None
    voice_check = checks.submit(_check, Path(args.voice), AssetCategory.AUDIO) if args.voice else None
    checks.shutdown(wait=False)
    with EmbeddedAWS() as embedded:
        settings = get_settings()
        try:
            images = [_store(check) for check in image_checks]
            music = _store(music_check) if music_check else None
            voice = _store(voice_check) if voice_check else None
        except AssetRejectedError as exc:
            print(f"input rejected: {exc}", file=sys.stderr)
            return 2
        request = JobRequest(
            preset_id=args.preset,
            prompt=args.prompt,
            target_duration_seconds=args.duration,
            image_uris=images,
            music_uri=music,
            voice_uri=voice,
        )
        record = submit_request(request, tenant_id=LOCAL_TENANT, settings=settings)

        def show(current: JobRecord) -> None:
            print(_progress_bar(current, started), end="", file=sys.stderr, flush=True)

        try:
            record = watch_job(record.job_id, embedded.changes, timeout_seconds=RENDER_TIMEOUT_SECONDS, on_update=show)
        except JobNotFinishedError as exc:
            print(f"\nFAILED: {exc}", file=sys.stderr)
            return 1
        print(file=sys.stderr)
        if record.status is not JobStatus.DONE:
            print(f"FAILED: {record.error or 'no reason recorded'}", file=sys.stderr)
            return 1
        store = ArtifactStore.from_settings(settings)
        job_id = record.job_id
        downloads = [
            (keys.output_key(job_id), output),
            (keys.thumbnail_key(job_id), _sidecar(output, ".thumbnail.jpg")),
            (keys.captions_key(job_id), _sidecar(output, ".srt")),
            (keys.metadata_key(job_id), _sidecar(output, ".metadata.json")),
        ]
        with ThreadPoolExecutor(max_workers=len(downloads)) as pool:
            for done in [pool.submit(store.download, key, path) for key, path in downloads]:
                done.result()
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


def _bind_api_socket(host: str, port: int) -> socket.socket:
    """The API's listening socket, bound before anything else starts, so a taken port fails at once."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
        sock.listen(128)  # connections wait in the backlog until uvicorn accepts them
    except OSError as exc:
        sock.close()
        raise CommandError(f"cannot serve the API on {host}:{port}: {exc.strerror}") from exc
    return sock


def _seed_dev_key() -> str | None:
    """The development key, set only when no key is configured at all (API_KEY or API_KEYS)."""
    if os.environ.get("API_KEY") or os.environ.get("API_KEYS"):
        return None
    os.environ["API_KEY"] = DEFAULT_DEV_KEY
    return DEFAULT_DEV_KEY


def serve(args: argparse.Namespace) -> int:
    from pytoon.local.embedded import EmbeddedAWS, EmbeddedStartError
    from pytoon.local.state import ServeState, remove_state, write_state

    api_socket = _bind_api_socket(args.host, args.port)
    api_port = api_socket.getsockname()[1]
    dev_key = _seed_dev_key()
    _warn_in_memory()
    embedded = EmbeddedAWS(port=args.aws_port)
    try:
        stack = embedded.start()
    except EmbeddedStartError as exc:
        api_socket.close()
        raise CommandError(f"cannot start embedded AWS: {exc}") from exc
    api_url = f"http://{args.host}:{api_port}"
    try:
        import uvicorn

        from pytoon.api.app import create_app

        class Server(uvicorn.Server):
            async def startup(self, sockets: list[socket.socket] | None = None) -> None:
                await super().startup(sockets=sockets)
                # Lambda loads each function on its first invoke; importing them once the API answers spares
                # the first job that wait without delaying the start.
                if self.started:
                    threading.Thread(target=embedded.runtime.preload, daemon=True).start()

        server = Server(uvicorn.Config(create_app(), log_level="warning"))
        write_state(
            api_port,
            ServeState(
                pid=os.getpid(),
                api_url=api_url,
                endpoint_url=stack.endpoint_url,
                region=stack.region,
                table_name=stack.table_names["JobsTable"],
                bucket_name=stack.bucket_name,
                state_machine_arns=stack.state_machine_arns,
            ),
        )
        print(f"Embedded AWS endpoint: {stack.endpoint_url}  (region {stack.region}, any credentials)")
        for name, arn in stack.state_machine_arns.items():
            print(f"  state machine {name}: {arn}")
        print(f"  bucket: {stack.bucket_name}   table: {stack.table_names['JobsTable']}")
        print(
            f"  e.g. aws --endpoint-url {stack.endpoint_url} stepfunctions list-executions "
            f"--state-machine-arn {stack.render_state_machine_arn}"
        )
        key_note = f"development key: X-API-Key: {dev_key}" if dev_key else "keys from API_KEY/API_KEYS"
        print(f"API: {api_url}  (docs at /docs; {key_note})", flush=True)
        # uvicorn shuts down gracefully on SIGINT/SIGTERM, then re-raises the signal: both end up here as an
        # exception, so the state file is removed and the embedded stack stopped either way.
        previous = signal.signal(signal.SIGTERM, _stop_on_sigterm)
        try:
            server.run(sockets=[api_socket])
        except (KeyboardInterrupt, _Stopped):
            pass
        finally:
            signal.signal(signal.SIGTERM, previous)
    finally:
        remove_state(api_port)
        embedded.stop()
    return 0


class _Stopped(Exception):
    pass


def _stop_on_sigterm(signum: int, frame: object) -> None:
    raise _Stopped


def keys_command(args: argparse.Namespace) -> int:
    """Manage API keys in the configured table (`--local`: the embedded AWS of a running `pytoon serve`)."""
    from pytoon.local.embedded import BUCKET_NAME, EMBEDDED_TABLE, FAKE_ACCOUNT_ENV

    if args.local:
        endpoint = _local_endpoint(args)
        os.environ.update(
            {"AWS_ENDPOINT_URL": endpoint, "PYTOON_TABLE_NAME": EMBEDDED_TABLE, "PYTOON_BUCKET_NAME": BUCKET_NAME}
        )
        for name, value in FAKE_ACCOUNT_ENV.items():
            os.environ.setdefault(name, value)
    from pytoon.aws.apikeys import ApiKeyRepository
    from pytoon.config import get_settings

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


def _local_endpoint(args: argparse.Namespace) -> str:
    """`--aws-port` if given, else the endpoint the serve on API port `--port` recorded in its state file."""
    from pytoon.local.state import read_state, state_file

    if args.aws_port:
        return f"http://127.0.0.1:{args.aws_port}"
    state = read_state(args.port)
    if state is None:
        raise CommandError(
            f"no running `pytoon serve` on API port {args.port} (no live state file {state_file(args.port)}); "
            "start one, or name its embedded AWS port with --aws-port"
        )
    return state.endpoint_url


def build_parser() -> argparse.ArgumentParser:
    from pytoon.presets import all_presets

    parser = argparse.ArgumentParser(prog="pytoon", description=__doc__.split("\n", 1)[0])
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
    serve_cmd.add_argument("--host", default="127.0.0.1", help="address of the API")
    serve_cmd.add_argument("--port", type=int, default=DEFAULT_API_PORT, help="port of the API")
    serve_cmd.add_argument(
        "--aws-port", type=int, default=0, help="port of the embedded AWS endpoint on 127.0.0.1 (default: a free one)"
    )
    serve_cmd.set_defaults(run=serve)

    keys_cmd = commands.add_parser("keys", help="create, revoke and list API keys")
    keys_cmd.add_argument("--local", action="store_true", help="use a running `pytoon serve`'s embedded AWS")
    keys_cmd.add_argument("--port", type=int, default=DEFAULT_API_PORT, help="with --local: the API port of that serve")
    keys_cmd.add_argument("--aws-port", type=int, default=0, help="with --local: its embedded AWS port instead")
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
    except CommandError as exc:
        print(f"pytoon {args.command}: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
