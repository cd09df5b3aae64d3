"""Where a running `pytoon serve` says what it serves, so `pytoon keys --local` can find it.

One JSON file per API port, `serve-<port>.json`, in PYTOON_STATE_DIR (default
`${XDG_STATE_HOME:-~/.local/state}/pytoon`). The serve writes it once its endpoints are up and removes it
on exit; a file whose process is gone (a crash) is treated as absent and removed when read.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path


@dataclass(frozen=True)
class ServeState:
    pid: int
    api_url: str
    endpoint_url: str
    region: str
    table_name: str
    bucket_name: str
    state_machine_arns: dict[str, str]


def state_dir() -> Path:
    if os.environ.get("PYTOON_STATE_DIR"):
        return Path(os.environ["PYTOON_STATE_DIR"])
    base = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(base) / "pytoon"


def state_file(api_port: int) -> Path:
    return state_dir() / f"serve-{api_port}.json"


def write_state(api_port: int, state: ServeState) -> Path:
    path = state_file(api_port)
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(f".{os.getpid()}.tmp")
    partial.write_text(json.dumps(asdict(state), indent=2))
    partial.replace(path)  # atomic: a reader sees the old file or the whole new one
    return path


def read_state(api_port: int) -> ServeState | None:
    path = state_file(api_port)
    try:
        state = ServeState(**json.loads(path.read_text()))
    except FileNotFoundError:
        return None
    except (ValueError, TypeError):
        path.unlink(missing_ok=True)
        return None
    if not pid_alive(state.pid):
        path.unlink(missing_ok=True)
        return None
    return state


def remove_state(api_port: int) -> None:
    """Remove the file if this process wrote it (another serve may have taken the port since)."""
    path = state_file(api_port)
    try:
        if json.loads(path.read_text()).get("pid") == os.getpid():
            path.unlink()
    except (FileNotFoundError, ValueError):
        return


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
