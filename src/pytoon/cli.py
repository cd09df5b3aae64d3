"""`pytoon` command line: render one job or serve the API, both on embedded AWS.

Modules are imported inside the commands: `pytoon keys` need not load the renderer, and nothing is loaded
before the arguments are known to be valid.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import signal
import socket
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from pytoon.limits import MAX_DURATION_SECONDS, MIN_DURATION_SECONDS

if TYPE_CHECKING:
    from pytoon.assets import AssetCategory, CheckedUpload
    from pytoon.aws.jobs import JobRecord
    from pytoon.scenes import SceneGraph
    from pytoon.submission import JobRequest
    from pytoon.v2_jobs import V2JobRequest

LOCAL_TENANT = "local"
DEFAULT_DEV_KEY = "dev-key-change-me"
DEFAULT_API_PORT = 8080
RENDER_TIMEOUT_SECONDS = 30 * 60
# A local --media file with one of these suffixes is a video clip; any other is an image.
VIDEO_SUFFIXES = (".mp4", ".mov", ".webm", ".m4v")
# A --music value with one of these suffixes (or a path separator) names a file, never a library track.
AUDIO_SUFFIXES = (".mp3", ".wav")


class CommandError(RuntimeError):
    """A reason to stop with exit status 1 and this message (a port taken, no running serve…)."""


def _progress_bar(record: JobRecord, started: float) -> str:
    width = 30
    filled = int(width * record.progress_pct / 100)
    bar = "█" * filled + "░" * (width - filled)
    status = record.status.v2 if record.api_version == 2 else record.status.value  # as that API version spells it
    return f"\r{bar} {record.progress_pct:5.1f}%  {status:<18} {time.monotonic() - started:6.1f}s"


# The stored key of a local file a request names, by its reference and the category it is checked as.
FileKey = Callable[[str, "AssetCategory"], str]


@dataclass(frozen=True)
class LocalJob:
    """A job to render: the local files it names and its request, built around their stored keys."""

    # (reference as the command line or scene graph writes it, category it is checked as) → the file.
    files: dict[tuple[str, AssetCategory], Path]
    request: Callable[[FileKey], JobRequest | V2JobRequest]


class InputError(Exception):
    """A command-line input that cannot be used (a scene graph file that is no JSON, a missing media file)."""


def _check(path: Path, category: AssetCategory) -> CheckedUpload:
    from pytoon.assets import AssetRejectedError, CheckedUpload, inspect_media

    # The API's inline check refuses video clips (its function has no ffmpeg); here ffmpeg is at hand, so
    # every category is inspected in place, as the upload notification does.
    try:
        facts = inspect_media(path, category)
        data = path.read_bytes()
    except OSError as exc:
        raise AssetRejectedError(f"cannot read it: {exc.strerror}") from exc
    return CheckedUpload(category=category, filename=path.name, data=data, facts=facts)


def _store(path: Path, check: Future[CheckedUpload]) -> str:
    from pytoon.assets import AssetRejectedError, store_checked

    try:
        upload = check.result()
    except AssetRejectedError as exc:
        raise AssetRejectedError(f"{path}: {exc}") from exc
    return store_checked(upload, LOCAL_TENANT).key


def _sidecar(output: Path, suffix: str) -> Path:
    return output.with_name(output.stem + suffix)


def _warn_in_memory() -> None:
    from pytoon.local.embedded import IN_MEMORY_WARNING

    print(f"note: {IN_MEMORY_WARNING}", file=sys.stderr, flush=True)


VOICE_SCRIPT_HELP = "a voiceover to speak; its sentences are the captions"


def _refusals() -> tuple[type[Exception], ...]:
    """What makes a request unusable (the API answers these 400 or 422): exit status 2 with the reason."""
    from pydantic import ValidationError

    from pytoon.assets import AssetReferenceError, AssetRejectedError
    from pytoon.content_rules import ContentRefusedError
    from pytoon.media_fetch import MediaUrlError
    from pytoon.scene_planner import ScenePlanningError
    from pytoon.scenes import SceneGraphError
    from pytoon.v2_jobs import V2RequestError
    from pytoon.voice_track import VoiceScriptError

    return (
        InputError,
        VoiceScriptError,
        AssetRejectedError,
        AssetReferenceError,
        V2RequestError,
        ScenePlanningError,
        SceneGraphError,
        ContentRefusedError,
        MediaUrlError,
        ValidationError,
    )


def _refused(exc: Exception) -> int:
    from pydantic import ValidationError

    from pytoon.assets import AssetRejectedError

    if isinstance(exc, ValidationError):
        problems = [f"{'.'.join(map(str, e['loc']))}: {e['msg']}" if e["loc"] else e["msg"] for e in exc.errors()]
        message = "invalid request: " + "; ".join(problems)
    elif isinstance(exc, AssetRejectedError):
        message = f"input rejected: {exc}"
    elif isinstance(exc, InputError):
        message = str(exc)
    else:
        message = f"request refused: {exc}"
    print(message, file=sys.stderr)
    return 2


@contextmanager
def _collector_paused() -> Iterator[None]:
    """Build what lives until the process ends (modules, the embedded stack, handlers) without the cyclic
    collector, then set it aside (gc.freeze): collecting found next to nothing to free in it yet cost a render
    about half a second over its hundreds of thousands of objects. What is built afterwards is collected."""
    gc.disable()
    try:
        yield
    finally:
        gc.freeze()
        gc.enable()


def _render(prepare: Callable[[], LocalJob], output_name: str) -> int:
    """Render one job on embedded AWS: every local file validated (while the cloud starts) and stored, the
    request submitted, followed with a progress bar; the video and its sidecars downloaded beside `output`."""
    from pytoon.aws import keys
    from pytoon.aws.storage import ArtifactStore
    from pytoon.config import get_settings
    from pytoon.local.embedded import EVERY_RENDER_INVOKES, RENDER_STATE_MACHINE, EmbeddedAWS
    from pytoon.local.progress import JobNotFinishedError, watch_job
    from pytoon.models import JobStatus
    from pytoon.submission import submit_request

    refusals = _refusals()
    try:
        job = prepare()
        # Every rule that needs no storage is checked before anything starts, the local files named by path.
        job.request(lambda reference, category: reference)
    except refusals as exc:
        return _refused(exc)
    output = Path(output_name).resolve()
    output.parent.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    _warn_in_memory()
    # Validation decodes every file in full (in C, off the GIL): it runs for all files at once while the
    # embedded cloud starts, which needs none of them.
    pool = ThreadPoolExecutor(max_workers=4)
    checks = {name: pool.submit(_check, path, name[1]) for name, path in job.files.items()}
    pool.shutdown(wait=False)
    with ExitStack() as resources:
        with _collector_paused():
            # A job runs on the render machine alone: the production-run machine is not deployed.
            embedded = resources.enter_context(EmbeddedAWS(state_machines=(RENDER_STATE_MACHINE,)))
            # What the job would build on its way (its functions, moto's Lambda router) is built now, with the
            # rest of what lives as long as the render.
            embedded.prepare_for_jobs(list(EVERY_RENDER_INVOKES))
        settings = get_settings()
        try:
            stored = {name: _store(job.files[name], check) for name, check in checks.items()}
            request = job.request(lambda reference, category: stored[reference, category])
            record = submit_request(request, tenant_id=LOCAL_TENANT, settings=settings)
        except refusals as exc:
            return _refused(exc)

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
        metadata = _sidecar(output, ".metadata.json")
        downloads = [
            (keys.output_key(job_id), output),
            (keys.thumbnail_key(job_id), _sidecar(output, ".thumbnail.jpg")),
            (keys.captions_key(job_id), _sidecar(output, ".srt")),
            (keys.metadata_key(job_id), metadata),
        ]
        with ThreadPoolExecutor(max_workers=len(downloads)) as downloading:
            for done in [downloading.submit(store.download, key, path) for key, path in downloads]:
                done.result()
    wall = time.monotonic() - started
    # The length rendered, which a supplied scene graph sets to the millisecond (its request rounds it).
    duration = json.loads(metadata.read_text())["output"]["duration_seconds"]
    scenes = f"  {record.segment_count} scenes" if record.api_version == 2 else ""
    print(f"{output}  duration {duration:.2f}s{scenes}  1080x1920  wall time {wall:.1f}s")
    if record.voice_provider and record.voice_duration_ms:
        print(f"voiceover: {record.voice_duration_ms / 1000:.1f}s spoken by {record.voice_provider}")
    for note in (record.voice_fallback_reason, record.duration_follows_voice):
        if note:
            print(f"note: {note}")
    return 0


def render_job(args: argparse.Namespace) -> int:
    """A V1 job: a prompt, images in order, music and voiceover files."""
    from pytoon.models import AssetCategory
    from pytoon.submission import JobRequest

    def prepare() -> LocalJob:
        audio = [a for a in (args.music, args.voice) if a]
        files = {(p, AssetCategory.IMAGE): Path(p) for p in args.image}
        files |= {(a, AssetCategory.AUDIO): Path(a) for a in audio}

        def request(key: FileKey) -> JobRequest:
            return JobRequest(
                preset_id=args.preset,
                prompt=args.prompt,
                target_duration_seconds=args.duration,
                image_uris=[key(p, AssetCategory.IMAGE) for p in args.image],
                music_uri=key(args.music, AssetCategory.AUDIO) if args.music else None,
                voice_uri=key(args.voice, AssetCategory.AUDIO) if args.voice else None,
                voice_script=args.voice_script,
            )

        return LocalJob(files=files, request=request)

    return _render(prepare, args.output)


def _media_category(path: str) -> AssetCategory:
    from pytoon.models import AssetCategory

    return AssetCategory.VIDEO if Path(path).suffix.lower() in VIDEO_SUFFIXES else AssetCategory.IMAGE


def _music_is_file(music: str | None) -> bool:
    if not music:
        return False
    return Path(music).is_file() or os.sep in music or Path(music).suffix.lower() in AUDIO_SUFFIXES


def _graph_files(document_path: Path) -> tuple[SceneGraph, dict[tuple[str, AssetCategory], Path]]:
    """The scene graph of a file, checked, and the local files its media name: every reference but an
    https URL is a file path, relative to the scene graph's folder (this run's storage starts empty)."""
    from pytoon.scenes import parse_scene_graph
    from pytoon.v2_jobs import graph_media, is_url

    try:
        document = json.loads(document_path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InputError(f"cannot read the scene graph {document_path}: {exc}") from exc
    graph = parse_scene_graph(document)
    files = {}
    for reference, category in graph_media(graph):
        if is_url(reference):
            continue
        path = (document_path.parent / Path(reference).expanduser()).resolve()
        if not path.is_file():
            raise InputError(
                f"{document_path}: no such file: {reference} (scene graph media are local files, relative to "
                "the scene graph's folder, or https URLs)"
            )
        files[reference, category] = path
    return graph, files


def render_v2_job(args: argparse.Namespace) -> int:
    """A V2 job: a prompt plus media (images, video clips, https URLs) in scene order, or a whole scene graph."""
    from pytoon.models import AssetCategory
    from pytoon.v2_jobs import V2JobRequest, is_url, replace_graph_media

    def prepare() -> LocalJob:
        graph, graph_files = _graph_files(Path(args.scene_graph)) if args.scene_graph else (None, {})
        files = graph_files | {(m, _media_category(m)): Path(m) for m in args.media if not is_url(m)}
        music_file = _music_is_file(args.music)
        if music_file:
            files[args.music, AssetCategory.AUDIO] = Path(args.music)

        def request(key: FileKey) -> V2JobRequest:
            fields = {
                "prompt": args.prompt,
                "media_files": [m if is_url(m) else key(m, _media_category(m)) for m in args.media],
                "preset_id": args.preset,
                "brand_safe": args.brand_safe,
                "voice_script": args.voice_script,
                "music_source": key(args.music, AssetCategory.AUDIO) if music_file else args.music,
                "engine_override": args.engine,
                "target_duration_seconds": args.duration,
                "max_scenes": args.max_scenes,
            }
            if graph is not None:
                stored = {reference: key(reference, category) for reference, category in graph_files}
                fields["scene_graph"] = replace_graph_media(graph, stored).document()
            return V2JobRequest(**fields)

        return LocalJob(files=files, request=request)

    return _render(prepare, args.output)


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
            voice_script=None,
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
    # Start-up builds what lives as long as the server (modules, models, the embedded stack, the app), so the
    # cyclic collector finds next to nothing to free in it, yet running it over those quarter of a million
    # objects cost about a fifth of the start. It is paused until the API listens (a failed start exits).
    gc.disable()
    api_socket = _bind_api_socket(args.host, args.port)
    dev_key = _seed_dev_key()
    _warn_in_memory()
    with ExitStack() as providers:
        if args.fake_providers:
            from pytoon.local.fakes.providers import fake_video_providers

            for engine, url in providers.enter_context(fake_video_providers()).items():
                print(f"fake {engine} API: {url}")
        return _serve_embedded(args, api_socket, dev_key)


def _serve_embedded(args: argparse.Namespace, api_socket: socket.socket, dev_key: str | None) -> int:
    from pytoon.local.embedded import EmbeddedAWS, EmbeddedStartError
    from pytoon.local.state import ServeState, remove_state, write_state

    api_port = api_socket.getsockname()[1]
    embedded = EmbeddedAWS(port=args.aws_port)
    try:
        stack = embedded.start()
    except EmbeddedStartError as exc:
        api_socket.close()
        raise CommandError(f"cannot start embedded AWS: {exc}") from exc
    api_url = f"http://{args.host}:{api_port}"
    # Providers that call back per request (the Remotion render service) are told this address.
    os.environ.setdefault("PYTOON_WEBHOOK_BASE_URL", f"http://127.0.0.1:{api_port}")
    try:
        import uvicorn

        from pytoon.api.app import create_app
        from pytoon.local.webhooks_gateway import WEBHOOKS_FUNCTION, WebhooksGateway

        class Server(uvicorn.Server):
            async def startup(self, sockets: list[socket.socket] | None = None) -> None:
                await super().startup(sockets=sockets)
                # What start-up built is set aside, never to be rescanned; what requests build is collected.
                gc.freeze()
                gc.enable()
                # Lambda loads each function on its first invoke; importing them once the API answers spares
                # the first job that wait without delaying the start. The API itself is this process's app:
                # its function is never invoked here.
                if self.started:
                    invoked = [*embedded.invoked_functions, WEBHOOKS_FUNCTION]
                    threading.Thread(target=embedded.prepare_for_jobs, args=(invoked,), daemon=True).start()

        # Provider webhooks reach WebhooksFunction, as API Gateway routes them; every other request the API.
        gateway = WebhooksGateway.for_embedded(create_app(), embedded)
        server = Server(uvicorn.Config(gateway, log_level="warning"))
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
        webhook_routes = ", ".join(f"{route.method} {api_url}{route.resource}" for route in gateway.routes)
        print(f"  provider webhooks (WebhooksFunction): {webhook_routes}")
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
    from pytoon.engines import ENGINE_NAMES
    from pytoon.presets import all_presets
    from pytoon.v2_jobs import DEFAULT_PRESET

    parser = argparse.ArgumentParser(prog="pytoon", description=__doc__.split("\n", 1)[0])
    commands = parser.add_subparsers(dest="command", required=True)
    preset_ids = [p.id for p in all_presets()]

    render = commands.add_parser("render", help="render one job end to end on embedded AWS")
    render.add_argument("--prompt", required=True)
    render.add_argument("--image", action="append", default=[], help="product image (repeatable, used in order)")
    render.add_argument("--music", help="music track (MP3/WAV)")
    voice = render.add_mutually_exclusive_group()
    voice.add_argument("--voice", help="voiceover (MP3/WAV)")
    voice.add_argument("--voice-script", metavar="TEXT", help=VOICE_SCRIPT_HELP)
    render.add_argument("--preset", default="product_hero_clean", choices=preset_ids)
    render.add_argument("--duration", type=int, default=15, help="seconds, 1-60")
    render.add_argument("-o", "--output", default="out/video.mp4")
    render.set_defaults(run=render_job)

    render_v2 = commands.add_parser(
        "render-v2",
        help="render one V2 job (a prompt plus images and video clips, or a whole scene graph) on embedded AWS",
        description="Render one V2 job end to end on embedded AWS: a prompt plus media in scene order, or a "
        "whole scene graph (--scene-graph, which states its own scenes, media and durations).",
    )
    render_v2.add_argument("--prompt", help="one scene per sentence (or per <SHOT n> block)")
    render_v2.add_argument(
        "--media",
        action="append",
        default=[],
        metavar="PATH_OR_HTTPS_URL",
        help=f"image, or video clip ({'/'.join(VIDEO_SUFFIXES)}), or https URL (repeatable, in scene order)",
    )
    render_v2.add_argument(
        "--scene-graph",
        metavar="FILE.json",
        help="a whole scene graph; its media are files relative to it or https URLs",
    )
    render_v2.add_argument("--max-scenes", type=int, help="merge sentences into at most this many scenes")
    render_v2.add_argument("--engine", choices=[*ENGINE_NAMES, "local"], help="engine for the scenes it generates")
    render_v2.add_argument("--preset", default=DEFAULT_PRESET, choices=preset_ids)
    render_v2.add_argument(
        "--duration", type=int, help="seconds, 1-60 (default 5 s per scene; a scene graph states its own)"
    )
    render_v2.add_argument(
        "--voice-script", metavar="TEXT", help="a voiceover to speak; its sentences are the captions"
    )
    render_v2.add_argument("--music", metavar="NAME_OR_FILE", help="a music library track, or an MP3/WAV file")
    render_v2.add_argument(
        "--no-brand-safe", dest="brand_safe", action="store_false", help="do not apply the brand-safe rules"
    )
    render_v2.add_argument("-o", "--output", default="out/video.mp4")
    render_v2.set_defaults(run=render_v2_job)

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
    serve_cmd.add_argument(
        "--fake-providers",
        action="store_true",
        help="serve loopback fakes of Runway, Luma, Pika and OpenAI video, and generate scenes with them",
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

    from pytoon.cli_runs import add_runs_commands

    add_runs_commands(commands)
    return parser


def _named_files(args: argparse.Namespace) -> list[str]:
    """The local files the command line names, each of which must exist."""
    if args.command == "render":
        return [p for p in (*args.image, args.music, args.voice) if p]
    if args.command == "render-v2":
        from pytoon.v2_jobs import is_url

        music = [args.music] if _music_is_file(args.music) else []
        graph = [args.scene_graph] if args.scene_graph else []
        return [*(m for m in args.media if not is_url(m)), *music, *graph]
    return []


def main(argv: list[str] | None = None) -> int:
    with _collector_paused():  # the parser imports the modules every command shares
        args = build_parser().parse_args(argv)
    duration = getattr(args, "duration", None)
    if duration is not None and not MIN_DURATION_SECONDS <= duration <= MAX_DURATION_SECONDS:
        print(f"--duration must be between {MIN_DURATION_SECONDS} and {MAX_DURATION_SECONDS} seconds", file=sys.stderr)
        return 2
    for path in _named_files(args):
        if not Path(path).is_file():
            print(f"no such file: {path}", file=sys.stderr)
            return 2
    try:
        return args.run(args)
    except CommandError as exc:
        print(f"pytoon {args.command}: {exc}", file=sys.stderr)
        return 1
    finally:
        # The process is about to exit: set aside what the command built (the embedded cloud is some hundred
        # thousand objects) so interpreter shutdown does not collect it all, about 0.7 s of a render.
        gc.freeze()


if __name__ == "__main__":
    sys.exit(main())
