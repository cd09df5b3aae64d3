"""`pytoon runs`: start, follow, list, show and decide production runs, and talk to the supervisor, over the HTTP
API of a running service (a local `pytoon serve` by default, or the deployed API with `--api-url`).

Every failure is one plain line on stderr and a non-zero exit: the API's own `detail` for its refusals (exit 2
for a request it cannot use, 400/422; 1 otherwise), "no API at URL" when nothing listens there.
"""

from __future__ import annotations

import argparse
import ipaddress
import json
import os
import sys
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from pytoon.cli import DEFAULT_API_PORT, DEFAULT_DEV_KEY
from pytoon.runs.models import Gate, RunStatus

if TYPE_CHECKING:
    import httpx

DEFAULT_API_URL = f"http://127.0.0.1:{DEFAULT_API_PORT}"
API_URL_ENV = "PYTOON_API_URL"
API_KEY_ENV = "PYTOON_API_KEY"
# `--wait` reads the run this often: well inside the development key's 60 requests a minute.
POLL_SECONDS = 2.0
REQUEST_TIMEOUT_SECONDS = 60
WAITING_AT_GATE = {gate.waiting_status.value: gate.value for gate in Gate}
ENDED = {status.value for status in RunStatus if status.terminal}


class RunsCommandError(Exception):
    """A reason to stop with this one-line message and exit status; `retry_after` (seconds) when rate-limited."""

    def __init__(self, message: str, exit_code: int = 1, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.exit_code = exit_code
        self.retry_after = retry_after


def _is_loopback(url: str) -> bool:
    host = urlsplit(url).hostname or ""
    try:
        return host == "localhost" or ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _api_key(args: argparse.Namespace, api_url: str) -> str:
    """--api-key, else PYTOON_API_KEY, else (for an API on this machine) the development key `pytoon serve`
    seeds when no keys are configured: that key is public, so it never leaves the machine and is never shown."""
    key = args.api_key or os.environ.get(API_KEY_ENV)
    if key:
        return key
    if _is_loopback(api_url):
        return DEFAULT_DEV_KEY
    raise RunsCommandError(f"no API key for {api_url}: pass --api-key or set {API_KEY_ENV}", exit_code=2)


class RunsApi:
    """The calls the commands make, each answering the body of a successful response or raising
    RunsCommandError with what the API (or the missing API) said."""

    def __init__(self, api_url: str, api_key: str, key_is_implied: bool) -> None:
        import httpx

        self.api_url = api_url
        self.key_is_implied = key_is_implied
        self.client = httpx.Client(base_url=api_url, headers={"X-API-Key": api_key}, timeout=REQUEST_TIMEOUT_SECONDS)

    def request(self, method: str, path: str, **kwargs: Any) -> Any:
        import httpx

        try:
            response = self.client.request(method, path, **kwargs)
        except httpx.ConnectError:
            raise RunsCommandError(f"no API at {self.api_url}: start `pytoon serve`") from None
        except httpx.TimeoutException:
            raise RunsCommandError(f"the API at {self.api_url} did not answer in time") from None
        except httpx.HTTPError as exc:
            raise RunsCommandError(f"cannot reach the API at {self.api_url}: {exc}") from None
        if not response.is_success:
            raise self._refusal(response)
        try:
            return response.json()
        except ValueError:
            raise RunsCommandError(f"the API at {self.api_url} answered {path} with a body that is not JSON") from None

    def _refusal(self, response: httpx.Response) -> RunsCommandError:
        try:
            body = response.json()
        except ValueError:
            body = {}
        detail = body.get("detail") if isinstance(body, dict) else None
        status = response.status_code
        if status == 422 and isinstance(detail, list):
            return RunsCommandError("invalid request: " + "; ".join(_issue(i) for i in detail), exit_code=2)
        text = str(detail) if detail else (response.text.strip()[:200] or response.reason_phrase)
        if status == 400:
            return RunsCommandError(f"request refused: {text}", exit_code=2)
        if status == 401:
            hint = (
                f" (the development key of a local `pytoon serve` was sent: pass --api-key or set {API_KEY_ENV})"
                if self.key_is_implied
                else ""
            )
            return RunsCommandError(f"{text}{hint}")
        if status == 429:
            wait = _seconds(body.get("retry_after_seconds") or response.headers.get("Retry-After"))
            return RunsCommandError(f"{text}: try again in {wait:g} s" if wait else text, retry_after=wait or 1)
        if status in (404, 409):
            return RunsCommandError(text)
        return RunsCommandError(f"the API answered {status}: {text}")

    def close(self) -> None:
        self.client.close()


def _seconds(value: Any) -> float | None:
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None


def _issue(issue: Any) -> str:
    """One 422 issue as `field: message` (the location without its `body`/`query` part)."""
    if not isinstance(issue, dict):
        return str(issue)
    where = [str(part) for part in issue.get("loc", []) if part not in ("body", "query", "path")]
    message = str(issue.get("msg", "invalid"))
    return f"{'.'.join(where)}: {message}" if where else message


# --- the commands --------------------------------------------------------------------------------------------


def start(api: RunsApi, args: argparse.Namespace) -> int:
    created = api.request("POST", "/v1/runs/start", json={"project": args.project, "brief": args.brief})
    run_id = created["run_id"]
    print(run_id, flush=True)  # alone on stdout, so `RUN=$(pytoon runs start …)` works
    if not args.wait:
        return 0
    try:
        return _follow(api, run_id)
    except KeyboardInterrupt:
        print(f"\nstopped following; the run goes on: pytoon runs show {run_id}", file=sys.stderr)
        return 130


def _follow(api: RunsApi, run_id: str) -> int:
    """Print each status change (on stderr) until the run waits at a gate or ends."""
    shown = None
    while True:
        try:
            run = api.request("GET", f"/v1/runs/{run_id}")
        except RunsCommandError as exc:
            if exc.retry_after is None:
                raise
            time.sleep(max(exc.retry_after, POLL_SECONDS))  # rate-limited: the run goes on, so does following it
            continue
        state = (run["status"], run["current_step"])
        if state != shown:
            shown = state
            step = f"  ({run['current_step']})" if run["current_step"] else ""
            print(f"{time.strftime('%H:%M:%S')}  {run['status']}{step}", file=sys.stderr, flush=True)
        gate = WAITING_AT_GATE.get(run["status"])
        if gate is not None:
            print(f"waiting at the {gate} gate: pytoon runs show {run_id}; pytoon runs approve {run_id} --gate {gate}")
            return 0
        if run["status"] in ENDED:
            return _ended(run)
        time.sleep(POLL_SECONDS)


def _ended(run: dict[str, Any]) -> int:
    if run["status"] == RunStatus.FAILED:
        print(f"run {run['run_id']} failed: {run['error'] or 'no reason recorded'}", file=sys.stderr)
        return 1
    published = run["artifacts"].get("published") or {}
    print(f"run {run['run_id']} {run['status']}" + (f": {published['url']}" if published.get("url") else ""))
    return 0


def _when(timestamp: str | None) -> str:
    """An ISO timestamp to the second, as a table shows it."""
    return (timestamp or "")[:19].replace("T", " ")


def list_runs(api: RunsApi, args: argparse.Namespace) -> int:
    params = {"limit": args.limit} | ({"status": args.status} if args.status else {})
    runs = api.request("GET", "/v1/runs", params=params)["runs"]
    if not runs:
        print(f"no {args.status} runs" if args.status else "no runs")
        return 0
    rows = [("RUN ID", "PROJECT", "STATUS", "STEP", "CREATED")]
    rows += [(r["run_id"], r["project"], r["status"], r["current_step"] or "-", _when(r["created_at"])) for r in runs]
    widths = [max(len(row[column]) for row in rows) for column in range(len(rows[0]) - 1)]
    for row in rows:
        print("  ".join([*(cell.ljust(width) for cell, width in zip(row[:-1], widths, strict=True)), row[-1]]))
    return 0


def show(api: RunsApi, args: argparse.Namespace) -> int:
    run = api.request("GET", f"/v1/runs/{args.run_id}")
    if args.json:
        print(json.dumps(run, indent=2))
        return 0
    print("\n".join(describe_run(run)))
    return 0


def describe_run(run: dict[str, Any]) -> list[str]:
    """A run as a reviewer reads it: where it is, its ideas, its clips, its video, and the decisions made."""
    artifacts = run["artifacts"]
    lines = [
        f"run       {run['run_id']}",
        f"project   {run['project']}",
        f"brief     {run['brief']}",
        f"status    {run['status']}" + (f"  (step {run['current_step']})" if run["current_step"] else ""),
    ]
    if run["error"]:
        lines.append(f"error     {run['error']}")
    lines.append(f"created   {_when(run['created_at'])}   updated {_when(run['updated_at'])}")
    if artifacts["ideas_text"]:
        lines += ["", "ideas:", *(f"  {line}".rstrip() for line in artifacts["ideas_text"].splitlines())]
    if artifacts["clips"]:
        lines += ["", "clips:"]
        for clip in artifacts["clips"]:
            made = clip["engine"] or "pending"
            lines.append(f"  {clip['index'] + 1}. {made:<13} {clip['seconds']:g} s  {clip['caption']}")
            if clip["fallback_reason"]:
                lines.append(f"     fallback: {clip['fallback_reason']}")
            if clip["url"]:
                lines.append(f"     {clip['url']}")
    render = artifacts["render"]
    if render:
        on = " on Remotion" if render["renderer"] == "remotion" else ""
        lines += ["", f"render    job {render['job_id']}{on}  {render['status'] or 'pending'}"]
        if render["fallback_reason"]:
            lines.append(f"          rendered here: {render['fallback_reason']}")
        if render["output_url"]:
            lines.append(f"          {render['output_url']}")
    published = artifacts["published"]
    if published:
        where = published["url"] or published["reason"] or ""
        lines.append(f"published {published['state']} by {published['publisher']}  {where}".rstrip())
        for platform, outcome in published["platforms"].items():
            lines.append(f"          {platform}: {json.dumps(outcome) if isinstance(outcome, dict) else outcome}")
    if artifacts["gates"]:
        lines += ["", "gates:"]
        for gate, decision in artifacts["gates"].items():
            verdict = "approved" if decision["approved"] else "rejected"
            comment = f"  “{decision['comment']}”" if decision["comment"] else ""
            lines.append(f"  {gate:<9} {verdict} {_when(decision['decided_at'])}{comment}")
    gate = WAITING_AT_GATE.get(run["status"])
    if gate is not None:
        lines += ["", f"next: pytoon runs approve {run['run_id']} --gate {gate} [--reject --comment TEXT]"]
    return lines


def approve(api: RunsApi, args: argparse.Namespace) -> int:
    decision = {"gate": args.gate, "approved": not args.reject, "comment": args.comment}
    run = api.request("POST", f"/v1/runs/{args.run_id}/approve", json=decision)
    verdict = "rejected" if args.reject else "approved"
    print(f"{args.gate} gate {verdict}: run {run['run_id']} is {run['status']}")
    return 0


def chat(api: RunsApi, args: argparse.Namespace) -> int:
    body = {"message": args.message} | ({"session_id": args.session} if args.session else {})
    answer = api.request("POST", "/v1/chat/supervisor", json=body)
    print(answer["reply"])
    if answer.get("llm_fallback_reason"):
        print(f"note: {answer['llm_fallback_reason']}", file=sys.stderr)
    print(f"session {answer['session_id']}  (continue with --session {answer['session_id']})", file=sys.stderr)
    return 0


# --- wiring --------------------------------------------------------------------------------------------------

Command = Callable[[RunsApi, argparse.Namespace], int]


def _runner(command: Command) -> Callable[[argparse.Namespace], int]:
    def run(args: argparse.Namespace) -> int:
        api_url = (args.api_url or os.environ.get(API_URL_ENV) or DEFAULT_API_URL).rstrip("/")
        try:
            key = _api_key(args, api_url)
            api = RunsApi(api_url, key, key_is_implied=not (args.api_key or os.environ.get(API_KEY_ENV)))
            try:
                return command(api, args)
            except (KeyError, TypeError, AttributeError):  # a server on that port that is not this API
                raise RunsCommandError(f"the API at {api_url} answered in a shape this command does not know") from None
            finally:
                api.close()
        except RunsCommandError as exc:
            print(f"pytoon runs {args.runs_command}: {exc}", file=sys.stderr)
            return exc.exit_code
        except KeyboardInterrupt:
            print(f"\npytoon runs {args.runs_command}: interrupted", file=sys.stderr)
            return 130
        except BrokenPipeError:
            # The reader went away (`| head -1`): nothing more can be shown, and exiting must not try again.
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            return 1

    return run


def add_runs_commands(commands: argparse._SubParsersAction) -> None:
    """`pytoon runs …`, on the `commands` of the `pytoon` parser."""
    connection = argparse.ArgumentParser(add_help=False)
    connection.add_argument("--api-url", help=f"the API (default ${API_URL_ENV}, else {DEFAULT_API_URL})")
    connection.add_argument(
        "--api-key",
        help=f"an API key (default ${API_KEY_ENV}; against a local API, the development key `pytoon serve` seeds)",
    )
    runs = commands.add_parser(
        "runs",
        help="start, follow and approve production runs through a running API",
        description=__doc__.split("\n\n", 1)[0],
    )
    runs_sub = runs.add_subparsers(dest="runs_command", required=True)

    start_cmd = runs_sub.add_parser("start", parents=[connection], help="start a run; prints its id")
    start_cmd.add_argument("--project", required=True, help="aismr, motivational, product_launch, …")
    start_cmd.add_argument("--brief", required=True, metavar="TEXT", help="what the video should be about")
    start_cmd.add_argument(
        "--wait", action="store_true", help="follow the run until it waits at a gate or ends, printing each change"
    )
    start_cmd.set_defaults(run=_runner(start))

    list_cmd = runs_sub.add_parser("list", parents=[connection], help="this tenant's runs, newest first")
    statuses = [s.value for s in RunStatus]
    list_cmd.add_argument("--status", choices=statuses, metavar="STATUS", help=", ".join(statuses))
    list_cmd.add_argument("--limit", type=int, default=50, help="at most this many (1-100)")
    list_cmd.set_defaults(run=_runner(list_runs))

    show_cmd = runs_sub.add_parser("show", parents=[connection], help="one run: status, ideas, clips, video, gates")
    show_cmd.add_argument("run_id", metavar="RUN_ID")
    show_cmd.add_argument("--json", action="store_true", help="the API's body as it is")
    show_cmd.set_defaults(run=_runner(show))

    approve_cmd = runs_sub.add_parser(
        "approve", parents=[connection], help="decide the gate a run waits at (approve, or --reject)"
    )
    approve_cmd.add_argument("run_id", metavar="RUN_ID")
    approve_cmd.add_argument("--gate", required=True, choices=[g.value for g in Gate])
    approve_cmd.add_argument("--reject", action="store_true", help="reject instead: the run ends `rejected`")
    approve_cmd.add_argument("--comment", metavar="TEXT", help="why (kept with the decision)")
    approve_cmd.set_defaults(run=_runner(approve))

    chat_cmd = runs_sub.add_parser("chat", parents=[connection], help="one message to the supervisor chat")
    chat_cmd.add_argument("message", metavar="MESSAGE")
    chat_cmd.add_argument("--session", metavar="ID", help="continue this session (its id is printed after a reply)")
    chat_cmd.set_defaults(run=_runner(chat))
