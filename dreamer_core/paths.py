"""Directories a run writes into, checked before any work starts, so that a bad `--logdir` or `export --out` is one
clear line (what is wrong and what to do) instead of a traceback from deep inside a save."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path


def writable_dir(path: str | os.PathLike, what: str, fix: str) -> Path:
    """Creates directory `path` (with its parents) if needed and proves a file can be written in it. Raises a
    one-line ValueError naming `what` ("run directory", say) and `fix` (the option to change) otherwise."""
    path = Path(path)
    try:
        if path.exists() and not path.is_dir():
            raise ValueError(f"{what} {path} is a file, not a directory; {fix}")
        existing = next(p for p in (path, *path.parents) if p.exists())
        if not existing.is_dir():
            raise ValueError(f"{what} {path} cannot be created: {existing} is a file, not a directory; {fix}")
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:  # permission denied, read-only file system, ... on the way down
        raise ValueError(f"{what} {path} cannot be created ({exc.strerror or exc}); {fix}") from None
    try:
        # A real write, not os.access: root passes every access check but not a read-only mount.
        with tempfile.TemporaryFile(dir=path):
            pass
    except OSError as exc:
        raise ValueError(f"{what} {path} is not writable ({exc.strerror or exc}); {fix}") from None
    return path
