"""Fault injection (issue 18; not part of the test suite): kill -9 at random moments and injected env crashes on
short debug runs, and how many of them lost work.

    nice -n 19 .venv/bin/python scripts/fault_injection.py --kills 50 --crashes 20 [--seed 0]

Kills: one run directory, trained by the CLI (dummy_disc from pixels, so a save writes megabytes; a save every
second) and killed with SIGKILL at a uniformly random moment 2-15 s after each start (building, collecting,
training or saving), then started again on the same directory. After each kill a trainer takes the directory
(that is, a resume) and the script checks: the checkpoint loads (its digest matches), it never goes back in env
frames, no temp file is left once the lock is taken, every log line is whole JSON, and the resumed run steps.
A kill "lost work" when any of these fails.

Crashes: the CLI runs 150 agent steps with the dummy env raising RuntimeError every k-th step (k drawn in
40..75: at most 3 failures, under the default limit of 5 per 1,000 steps, so the run goes on). It "lost work"
unless it exits 0, saved all 150 steps and rebuilt the env after each failure (at least one, at most 150 // k).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).parents[1]
sys.path.insert(0, str(ROOT))


def strict_lines(path: Path) -> tuple[int, int]:
    """(whole JSON lines, other lines) of a jsonl file."""
    good = bad = 0
    if path.exists():
        for line in path.read_text().splitlines():
            try:
                json.loads(line, parse_constant=lambda token: (_ for _ in ()).throw(ValueError(token)))
                good += 1
            except ValueError:
                bad += 1
    return good, bad


def kills(n: int, rng: random.Random, workdir: Path) -> dict:
    import torch

    from dreamer_core import checkpoint
    from dreamer_core.config import make_config
    from dreamer_core.trainer import Trainer

    torch.set_num_threads(1)
    logdir = workdir / "killed"
    overrides = ["run.save_every=1", "run.log_every=0.2", "run.train_fill=64", "run.train_ratio=16",
                 "run.threads=1"]
    cmd = [sys.executable, "-m", "dreamer_studio", "train", "--headless", "--task", "dummy_disc", "--obs",
           "vision", "--preset", "debug", "--frames", "1000000", "--logdir", str(logdir), "--set", *overrides]
    config = make_config("dummy_disc", "vision", "debug", {"run": {"save_every": 1.0, "log_every": 0.2,
                                                                   "train_fill": 64, "train_ratio": 16.0, "threads": 1,
                                                                   "steps": 1_000_000}})
    figures = {"kills": 0, "lost": 0, "temps_left_by_kill": 0, "temps_left_after_lock": 0, "torn_lines": 0,
               "checkpoint_unreadable": 0, "went_back": 0, "resume_failed": 0}
    last_frames = 0
    for i in range(n):
        proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(rng.uniform(2.0, 15.0))
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        figures["kills"] += 1
        lost = False
        temps = list(logdir.glob(".*.tmp")) + list(logdir.glob("*.tmp"))
        figures["temps_left_by_kill"] += bool(temps)
        ckpt = logdir / "latest.ckpt"
        frames = last_frames
        if ckpt.exists():
            try:
                frames = int(checkpoint.load(ckpt)["counters"]["env_frames"])
            except Exception:  # noqa: BLE001 - what we count
                figures["checkpoint_unreadable"] += 1
                lost = True
        if frames < last_frames:
            figures["went_back"] += 1
            lost = True
        last_frames = max(frames, last_frames)
        try:
            trainer = Trainer(config, logdir)  # takes the lock: stale temp files go
            if list(logdir.glob(".*.tmp")) + list(logdir.glob("*.tmp")):
                figures["temps_left_after_lock"] += 1
                lost = True
            trainer.step()
            trainer.close()
        except Exception as exc:  # noqa: BLE001
            print(f"kill {i}: resume failed: {exc}", flush=True)
            figures["resume_failed"] += 1
            lost = True
        for name in ("metrics.jsonl", "scores.jsonl"):
            figures["torn_lines"] += strict_lines(logdir / name)[1]
        figures["lost"] += lost
        print(f"kill {i + 1}/{n}: checkpoint at {frames:,} frames, temp files left by the kill: {len(temps)}"
              f"{', LOST WORK' if lost else ''}", flush=True)
    figures["final_frames"] = last_frames
    return figures


def crashes(n: int, rng: random.Random, workdir: Path) -> dict:
    from dreamer_core import checkpoint
    from dreamer_studio.cli import main

    figures = {"runs": 0, "lost": 0, "env_failures": 0}
    for i in range(n):
        every = rng.randint(40, 75)  # at most 3 failures in 150 steps: under the stop limit
        os.environ["DREAMER_DUMMY_FAULT"] = f"RuntimeError:{every}"
        logdir = workdir / f"crash{i}"
        try:
            code = main(["train", "--obs", "proprio", "--task", "dummy_cont", "--preset", "debug", "--frames", "150",
                         "--logdir", str(logdir), "--set", "run.train_fill=64", "run.train_ratio=16",
                         "run.threads=1"])
        finally:
            del os.environ["DREAMER_DUMMY_FAULT"]
        state = checkpoint.load(logdir / "latest.ckpt") if (logdir / "latest.ckpt").exists() else None
        c = state["counters"] if state else {}
        # About 150 / every failures (an env's own resets are not counted among its steps, so a few fewer).
        expected = 150 // every
        ok = code == 0 and c.get("agent_steps") == 150 and 1 <= c.get("env_restarts", 0) <= expected
        figures["runs"] += 1
        figures["env_failures"] += int(c.get("env_restarts", 0))
        figures["lost"] += not ok
        print(f"crash run {i + 1}/{n}: a fault every {every} steps, exit {code}, {c.get('agent_steps')} steps saved, "
              f"{c.get('env_restarts')} env rebuilds (expected {expected}){'' if ok else ', LOST WORK'}", flush=True)
    return figures


def main_() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kills", type=int, default=50)
    parser.add_argument("--crashes", type=int, default=20)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    with tempfile.TemporaryDirectory() as tmp:
        began = time.time()
        crash = crashes(args.crashes, rng, Path(tmp))
        kill = kills(args.kills, rng, Path(tmp))
    print(json.dumps({"kills": kill, "crashes": crash, "seconds": round(time.time() - began)}, indent=2))


if __name__ == "__main__":
    main_()
