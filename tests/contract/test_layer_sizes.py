"""Every function fits Lambda's 250 MB unzipped limit (its code plus all its layers) with room to spare.

The layers cannot be built here without PyPI, so the third-party part of the domain layer and the ffmpeg
layer come from layers/sizes.json, measured on real Makefile builds by `python layers/sizes.py`. Everything
that changes without a pin changing is measured live: the pytoon package as it is in the tree (fonts,
presets, schemas and code, compiled as the layer compiles it) and each function's code. The recorded
figures are tied to what they measured: the pinned runtime dependencies and the ffmpeg binary's sha256.
"""

from __future__ import annotations

import importlib.util
import json
import re
import tomllib
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from .conftest import REPO_ROOT, Function

LAMBDA_UNZIPPED_LIMIT = 262_144_000  # "Unzipped size must be smaller than 262144000 bytes"
HEADROOM = 20 * 1024 * 1024  # kept free for V2's additions
MB = 1_000_000


def _load_sizes_module() -> ModuleType:
    spec = importlib.util.spec_from_file_location("layer_sizes", REPO_ROOT / "layers" / "sizes.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


sizes = _load_sizes_module()


@pytest.fixture(scope="module")
def recorded() -> dict[str, Any]:
    return json.loads(sizes.RECORD.read_text(encoding="utf-8"))


def _normalise(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def test_recorded_figures_match_the_pins_they_measured(recorded: dict[str, Any]) -> None:
    """A changed dependency pin or ffmpeg binary needs a fresh measurement (python layers/sizes.py)."""
    project = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    for requirement in project["dependencies"]:
        name, version = re.fullmatch(r"([A-Za-z0-9_.-]+)(?:\[[^]]*\])?==(\S+)", requirement).groups()
        name = _normalise(name)
        if name in ("boto3", "botocore", "s3transfer"):  # the runtime's own copies are used
            assert name not in recorded["distributions"], name
            continue
        assert recorded["distributions"].get(name) == version, f"{name}=={version}: re-run python layers/sizes.py"
    sums = (REPO_ROOT / "layers" / "ffmpeg" / "SHA256SUMS").read_text(encoding="utf-8")
    [binary_sha] = [line.split()[0] for line in sums.splitlines() if line.endswith(" bin/ffmpeg")]
    assert recorded["ffmpeg_sha256"] == binary_sha, "re-run python layers/sizes.py"


def test_the_live_package_estimate_matches_a_real_build(recorded: dict[str, Any]) -> None:
    """The estimator this test relies on agreed with the built layer when the figures were recorded."""
    assert recorded["pytoon_estimate_bytes"] == pytest.approx(recorded["pytoon_bytes"], rel=0.01)
    assert recorded["third_party_bytes"] + recorded["pytoon_bytes"] == recorded["domain_layer_bytes"]


def test_every_function_fits_lambdas_unzipped_limit_with_headroom(
    functions: dict[str, Function], recorded: dict[str, Any]
) -> None:
    domain = recorded["third_party_bytes"] + sizes.package_bytes(REPO_ROOT / "src" / "pytoon")
    layer_bytes = {"DomainLayer": domain, "FfmpegLayer": recorded["ffmpeg_layer_bytes"]}
    report = []
    for logical_id, f in sorted(functions.items()):
        code = sizes.package_bytes(REPO_ROOT / f.code_uri)
        total = code + sum(layer_bytes[layer["Ref"]] for layer in f.layers)
        report.append(f"{logical_id}: {total / MB:.1f} MB")
        assert total <= LAMBDA_UNZIPPED_LIMIT - HEADROOM, (
            f"{logical_id} unzips to {total:,} bytes with its layers; the limit is {LAMBDA_UNZIPPED_LIMIT:,} "
            f"and {HEADROOM:,} must stay free (domain layer {domain:,}, of which pytoon "
            f"{domain - recorded['third_party_bytes']:,})"
        )
    print("; ".join(report))


def test_the_package_estimate_counts_what_is_added(tmp_path: Path) -> None:
    """A new font (or any data file) counts byte for byte; a module counts its source and its .pyc."""
    package = tmp_path / "pkg"
    package.mkdir()
    (package / "font.ttf").write_bytes(b"\0" * 123_456)
    assert sizes.package_bytes(package) == 123_456
    (package / "mod.py").write_text("VALUE = 1\n")
    with_module = sizes.package_bytes(package)
    assert with_module > 123_456 + len("VALUE = 1\n") + sizes.PYC_HEADER_BYTES
    (package / "__pycache__").mkdir()
    (package / "__pycache__" / "mod.cpython-311.pyc").write_bytes(b"\0" * 999)  # local caches are not shipped
    assert sizes.package_bytes(package) == with_module
