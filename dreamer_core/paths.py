"""Directories a run writes into, checked before any work starts, so that a bad `--logdir` or `export --out` is one
clear line (what is wrong and what to do) instead of a traceback from deep inside a save; and the atomic write of
a file into them."""

from __future__ import annotations

import os
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator


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


@contextmanager
def atomic_file(path: Path, prefix: str, suffix: str) -> Iterator[str]:
    """A new empty temp file `prefix<random>suffix` beside `path`, to write by name. On a clean exit it is renamed
    onto `path` in one step (readable by all: mkstemp makes it 0600), on any error deleted; so a crash mid-write
    leaves `path` as it was. A hidden prefix keeps readers that list the directory off half-written files."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=prefix, suffix=suffix)
    os.close(fd)
    try:
        yield tmp
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
