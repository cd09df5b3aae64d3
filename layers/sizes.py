"""Unzipped sizes of the two Lambda layers, measured on real builds and recorded for the contract test.

    .venv/bin/python layers/sizes.py

builds both layers with their Makefiles (the targets `sam build` runs; this needs PyPI) into a temporary
folder and writes layers/sizes.json: the domain layer's bytes split into the pytoon package and everything
else (with the distributions that make it up), and the ffmpeg layer's bytes with the binary's sha256.
tests/contract/test_layer_sizes.py then checks every function against Lambda's 250 MB limit offline: the
recorded third-party bytes, plus the pytoon package as it is in the tree now (estimated by `package_bytes`,
so new fonts count at once), plus the function's own code. Re-run this after changing a dependency pin.
"""

from __future__ import annotations

import json
import marshal
import re
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
RECORD = HERE / "sizes.json"
PYC_HEADER_BYTES = 16  # magic, flags, source hash (unchecked-hash pycs, as the Makefile compiles them)


def tree_bytes(path: Path) -> int:
    """Bytes of every regular file under `path` (what Lambda counts once the layer is unzipped)."""
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file() and not f.is_symlink())


def package_bytes(source: Path) -> int:
    """What a source package occupies in the domain layer: its files, plus one compiled .pyc per module."""
    total = 0
    for file in source.rglob("*"):
        if not file.is_file() or "__pycache__" in file.parts:
            continue
        total += file.stat().st_size
        if file.suffix == ".py":
            code = compile(
                file.read_bytes(), f"/opt/python/{file.relative_to(source.parent)}", "exec", dont_inherit=True
            )
            total += PYC_HEADER_BYTES + len(marshal.dumps(code))
    return total


def distributions(site: Path) -> dict[str, str]:
    """name -> version for every distribution installed in a layer's site folder (names normalised)."""
    found = {}
    for info in site.glob("*.dist-info"):
        name, version = info.name.removesuffix(".dist-info").rsplit("-", 1)
        found[re.sub(r"[-_.]+", "-", name).lower()] = version
    return found


def measure(domain: Path, ffmpeg: Path) -> dict[str, object]:
    site = domain / "python"
    pytoon = tree_bytes(site / "pytoon") + sum(tree_bytes(d) for d in site.glob("pytoon-*.dist-info"))
    total = tree_bytes(domain)
    binary = ffmpeg / "bin" / "ffmpeg"
    sha256 = subprocess.run(["sha256sum", str(binary)], check=True, capture_output=True, text=True).stdout.split()[0]
    return {
        "domain_layer_bytes": total,
        "pytoon_bytes": pytoon,
        "pytoon_estimate_bytes": package_bytes(ROOT / "src" / "pytoon"),
        "third_party_bytes": total - pytoon,
        "distributions": dict(sorted(distributions(site).items())),
        "ffmpeg_layer_bytes": tree_bytes(ffmpeg),
        "ffmpeg_sha256": sha256,
    }


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        built = {}
        for layer, target in (("pytoon", "build-DomainLayer"), ("ffmpeg", "build-FfmpegLayer")):
            built[layer] = Path(tmp) / layer
            subprocess.run(
                ["make", "-C", str(HERE / layer), target, f"ARTIFACTS_DIR={built[layer]}", f"PYTHON={sys.executable}"],
                check=True,
            )
        figures = measure(built["pytoon"], built["ffmpeg"])
    RECORD.write_text(json.dumps(figures, indent=2) + "\n", encoding="utf-8")
    print(json.dumps({k: v for k, v in figures.items() if k != "distributions"}, indent=2))


if __name__ == "__main__":
    main()
