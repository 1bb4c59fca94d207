"""A run directory's contents, to prove that something (a refused start, a viewer) left it exactly as it was."""

from __future__ import annotations

from pathlib import Path


def run_files(logdir: Path) -> dict[str, bytes | None]:
    """Every file under `logdir` by relative path, with its bytes (hidden files such as the lock too); folders as
    None, so a folder made or removed shows as well."""
    return {str(p.relative_to(logdir)): p.read_bytes() if p.is_file() else None for p in sorted(logdir.rglob("*"))}
