"""Embedded AWS refuses what would be unsafe or confusing before it starts anything."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest

from pytoon.local import embedded
from pytoon.local.embedded import EmbeddedAWS, EmbeddedStartError, bind_listening_socket


@pytest.mark.parametrize("host", ["0.0.0.0", "192.168.1.20", "example.com", "::"])
def test_a_non_loopback_address_is_refused(host: str) -> None:
    with pytest.raises(EmbeddedStartError, match="loopback"):
        EmbeddedAWS(host=host).start()


def test_a_taken_port_is_named() -> None:
    first = bind_listening_socket("127.0.0.1", 0)
    port = first.getsockname()[1]
    try:
        with pytest.raises(EmbeddedStartError, match=f"port {port} on 127.0.0.1 is already in use"):
            bind_listening_socket("127.0.0.1", port)
    finally:
        first.close()


def test_scratch_folders_of_finished_processes_are_removed_on_start(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(embedded, "WORK_ROOT", tmp_path)
    finished = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    crashed = tmp_path / finished.stdout.strip()
    (crashed / "jobs").mkdir(parents=True)
    (crashed / "jobs" / "segment.mp4").write_bytes(b"left behind")
    unrelated = tmp_path / "notes"
    unrelated.mkdir()

    own = embedded._fresh_work_dir(None)

    assert not crashed.exists()
    assert unrelated.exists()  # only folders named after a process are ours to remove
    assert own.parent == tmp_path and own.exists() and not any(own.iterdir())


def test_an_explicit_scratch_folder_is_emptied(tmp_path: Path) -> None:
    (tmp_path / "stale.mp4").write_bytes(b"x")
    assert embedded._fresh_work_dir(tmp_path) == tmp_path and not any(tmp_path.iterdir())


def test_preparing_for_jobs_builds_the_lambda_router_then_the_handlers_asked_for(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    built: list[object] = []
    monkeypatch.setattr(embedded.moto_seam, "route_lambda_requests_ahead", lambda: built.append("lambda router"))
    stack = EmbeddedAWS()
    stack._runtime = SimpleNamespace(preload=lambda functions: built.append(functions))  # type: ignore[assignment]
    stack.prepare_for_jobs(["PlannerFunction"])
    stack.prepare_for_jobs()
    assert built == ["lambda router", ["PlannerFunction"], "lambda router", None]
