"""A tiny trained model for the tests of shipped models (tests/core, tests/studio): a `debug`-preset run on
dummy_disc from pixels, trained for a few dozen updates in a temp directory and shipped with scripts/ship_model.py
(never into the package's assets)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
UPDATES = 60  # enough for the decoder to beat an untrained one on the open-loop image error, in a few seconds
COMMAND = "test: a debug-preset dummy_disc run of 60 updates"


def load_script(relative: str):
    """A script of the repository (e.g. "scripts/ship_model.py", "bench/gpu.py") imported as a module."""
    path = ROOT / relative
    spec = importlib.util.spec_from_file_location(path.stem, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def ship_model_script():
    return load_script("scripts/ship_model.py")


def train_debug_run(logdir: Path, updates: int = UPDATES, obs: str = "vision") -> Path:
    """A training run directory (config.json, latest.ckpt, logs) with `updates` updates; returns it."""
    from dreamer_core.config import make_config
    from dreamer_core.trainer import Trainer

    config = make_config("dummy_disc", obs, "debug",
                         {"run": {"device": "cpu", "train_ratio": 256.0, "replay_size": 4000, "seed": 1},
                          "train": {"lr": 1e-3}})  # a high rate: the decoder learns the scene in seconds
    trainer = Trainer(config, logdir)
    try:
        while trainer.updates < updates:
            trainer.step()
        trainer.save()
    finally:
        trainer.close()
    return logdir


def ship_debug_model(tmp: Path, name: str = "debug_dummy") -> Path:
    """Trains the debug run under `tmp` and ships it to `tmp/models/<name>`; returns the model directory."""
    run = train_debug_run(tmp / "run")
    out = tmp / "models" / name
    # a few updates teach the decoder, not the policy: shipped, as a pixel model like it would be, for its world model
    assert ship_model_script().main([str(run), str(out), "--command", COMMAND, "--world-model-only"]) == 0
    return out


def shared_debug_model(tmp_path_factory) -> Path:
    """The debug model, trained and shipped once per test session under its temp root (tests only read it)."""
    root = tmp_path_factory.getbasetemp() / "shared_debug_model"
    model = root / "models" / "debug_dummy"
    if not model.is_dir():
        ship_debug_model(root)
    return model
