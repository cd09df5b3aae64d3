"""What local mode derives from inputs that rarely change, kept on disk so the next process skips the work.

Parsing template.yaml and every state machine definition is most of a `pytoon render`'s deploy, and the
result depends only on the input and the versions of the code that parsed it. Entries are named by a digest
of all of those, so a changed template, definition or library is a new entry, never a stale one. The folder
is `$PYTOON_CACHE_DIR`, else `$XDG_CACHE_HOME/pytoon`, else `~/.cache/pytoon`, created private to the user
(entries are pickles, which only this user's own processes write). A cache that cannot be read or written
only misses: the work is done again, never refused.
"""

from __future__ import annotations

import hashlib
import os
import pickle
import sys
import tempfile
from pathlib import Path
from typing import Any

CACHE_DIR_ENV = "PYTOON_CACHE_DIR"
_PROTOCOL = 5


def cache_dir() -> Path:
    configured = os.environ.get(CACHE_DIR_ENV)
    if configured:
        return Path(configured)
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "pytoon"


def entry_name(*parts: str | bytes) -> str:
    """A digest of `parts` and the interpreter's version (pickles of a class are only as good as its code)."""
    digest = hashlib.sha256(sys.version.encode())
    for part in parts:
        digest.update(b"\0")
        digest.update(part.encode() if isinstance(part, str) else part)
    return digest.hexdigest()


def read(kind: str, name: str) -> tuple[Any, bytes] | None:
    """The entry's object and its pickle, or None when there is none or it does not load (truncated, or
    written by code that has since changed)."""
    try:
        data = (cache_dir() / kind / name).read_bytes()
        return pickle.loads(data), data  # noqa: S301 - written by this user's processes, in a folder private to them
    except Exception:  # noqa: BLE001 - any entry that cannot be used is a miss
        return None


def write(kind: str, name: str, value: Any) -> bytes:
    """Store `value` pickled and return the pickle. The entry is published whole (written aside, then
    renamed), so a reader never sees half of one."""
    data = pickle.dumps(value, protocol=_PROTOCOL)
    folder = cache_dir() / kind
    try:
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        fd, partial = tempfile.mkstemp(dir=folder, prefix=".")
    except OSError:
        return data
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(data)
        os.replace(partial, folder / name)
    except OSError:
        Path(partial).unlink(missing_ok=True)
    return data
