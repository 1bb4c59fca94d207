"""Checks the window makes on the GUI thread before it asks the trainer for anything (Qt-free, cheap).

A bad New-run form is refused before the current run is stopped, and a file that is not a checkpoint is refused
before the trainer pauses to read it: both used to cost the user their running state and then show an error.
"""

from __future__ import annotations

import json
from dataclasses import fields
from pathlib import Path

from dreamer_core import checkpoint
from dreamer_core.config import make_config, parse_overrides
from dreamer_core.envs import task_family

# What a checkpoint is, for the message about a file that is not one.
CHECKPOINT_LOOKS_LIKE = (
    "A Dreamer Studio checkpoint is a .ckpt file written by Dreamer Studio (Save, or latest.ckpt in the run "
    "directory when a run stops) or by `dreamer-studio train --headless`: it starts with the header "
    "DREAMER-CKPT and a SHA-256 of its contents (older ones are torch zip files holding a 'dreamer_core.checkpoint' "
    "marker). To watch a run directory, use Open run directory… instead.")
_NOT_CHECKPOINT = ("is not a dreamer_core checkpoint", "cannot be loaded safely", "not written by")
_ZIP = b"PK\x03\x04"  # checkpoints before format 2 are plain torch zip files


def not_a_checkpoint(path: str | Path) -> str | None:
    """The message for a file that cannot be a checkpoint (by its first bytes), or None when it may be one."""
    path = Path(path)
    if not path.is_file():
        return f"{path} does not exist or is not a file. {CHECKPOINT_LOOKS_LIKE}"
    try:
        with open(path, "rb") as f:
            head = f.read(len(checkpoint.MAGIC))
    except OSError as exc:
        return f"cannot read {path}: {exc.strerror or exc}."
    if head.startswith(checkpoint.MAGIC) or head.startswith(_ZIP):
        return None
    return f"{path} is not a Dreamer Studio checkpoint. {CHECKPOINT_LOOKS_LIKE}"


def load_error_text(message: str, path: str | None) -> str | None:
    """The plain message for a failed load of a file that is no checkpoint of ours (a torch file of someone else's,
    a pickle), or None when the message is about something else (a damaged or mismatched checkpoint)."""
    if path and any(marker in message for marker in _NOT_CHECKPOINT):
        return f"{path} is not a Dreamer Studio checkpoint. {CHECKPOINT_LOOKS_LIKE}"
    return None


def new_run_config(task: str, obs: str, preset: str, seed: int, device: str, overrides: str = ""):
    """The config the New-run form asks for, or ValueError with one line: the names, the overrides and the task
    itself (a dm_control domain and task that exist, a dummy task) are checked before anything is stopped."""
    parsed = parse_overrides(overrides.split()) if overrides.strip() else {}
    parsed.setdefault("run", {}).update(seed=seed, device=device)
    config = make_config(task, obs, preset, parsed)
    family = task_family(task)
    if family == "dmc":
        from dreamer_core.envs.dmc import parse_task  # imports dm_control (a second, once): only for dmc names

        parse_task(task[len("dmc_"):])
    elif family == "dummy" and task not in ("dummy_disc", "dummy_cont"):
        raise ValueError(f"unknown dummy task {task!r}: use dummy_disc or dummy_cont")
    return config


def config_overrides(config) -> str:
    """The `section.field=value` settings where `config` differs from its task/obs/preset defaults (seed and device
    excluded: the form has fields for them): the launch's --set overrides, to start a new run with the same."""
    base = make_config(config.env.task, config.env.obs, config.preset)
    out = []
    for section in ("env", "run", "model", "train"):
        ours, theirs = getattr(config, section), getattr(base, section)
        for f in fields(ours):
            if (section, f.name) in (("run", "seed"), ("run", "device")):
                continue
            value = getattr(ours, f.name)
            if value != getattr(theirs, f.name):
                text = value if isinstance(value, str) else json.dumps(value, separators=(",", ":"))
                out.append(f"{section}.{f.name}={text}")
    return " ".join(out)
