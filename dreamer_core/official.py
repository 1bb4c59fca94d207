"""The official DreamerV3 learning curves, as reference bands for a run's episode scores.

`data/official_curves.json` is derived by `scripts/official_curves.py` from the official repository's
`scores/dmc_{proprio,vision}-dreamerv3.json.gz` (its source, commit and the settings of those runs are stored in
the file). Per task and bin of env frames it holds the mean over seeds and the min-max band over seeds.
"""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass
from importlib import resources

import numpy as np

from dreamer_core.config import Config


@dataclass(frozen=True)
class OfficialCurve:
    """One task's official curve: bin `i` covers env frames [start[i], start[i] + bin_frames)."""

    suite: str  # dmc_proprio | dmc_vision
    task: str
    start: np.ndarray  # (N,) env frames at each bin's start
    mean: np.ndarray  # (N,) mean over seeds of the per-seed mean return in the bin
    low: np.ndarray  # (N,) min over seeds
    high: np.ndarray  # (N,) max over seeds
    seeds: int
    bin_frames: int
    settings: dict  # preset, action_repeat, train_ratio, envs of the official runs
    source: str  # repository@commit and file, for a caption

    def standing(self, env_frames: float, score: float) -> str | None:
        """'ahead', 'within the band' or 'behind' for a score at `env_frames`; None past the curve's end."""
        i = int(np.searchsorted(self.start, env_frames, side="right")) - 1
        if i < 0 or env_frames >= self.start[-1] + self.bin_frames:
            return None
        if score > self.high[i]:
            return "ahead"
        return "behind" if score < self.low[i] else "within the band"

    def differences(self, config: Config) -> list[str]:
        """The settings in which `config` differs from the official runs, e.g. ['preset cpu (official size12m)']."""
        ours = {"preset": config.preset, "action_repeat": config.env.action_repeat,
                "train_ratio": config.run.train_ratio, "envs": config.run.envs}
        return [f"{key} {ours[key]:g} (official {self.settings[key]:g})" if key != "preset"
                else f"preset {ours[key]} (official {self.settings[key]})"
                for key in ours if key in self.settings and ours[key] != self.settings[key]]


@functools.cache
def _data() -> dict:
    return json.loads(resources.files("dreamer_core").joinpath("data/official_curves.json").read_text())


def official_curve(task: str, obs: str) -> OfficialCurve | None:
    """The official curve of `task` (e.g. dmc_cartpole_balance) observed as `obs`, or None if there is none."""
    data = _data()
    suite = "dmc_vision" if obs == "vision" else "dmc_proprio"
    tasks = data["suites"].get(suite, {}).get("tasks", {})
    if task not in tasks:
        return None
    entry, source = tasks[task], data["source"]
    return OfficialCurve(
        suite=suite, task=task, start=np.asarray(entry["start"], np.float64), mean=np.asarray(entry["mean"]),
        low=np.asarray(entry["min"]), high=np.asarray(entry["max"]), seeds=int(entry["seeds"]),
        bin_frames=int(source["bin_frames"]), settings=data["suites"][suite]["settings"],
        source=f"{source['repository']}@{source['commit']} scores/{suite}-dreamerv3.json.gz")


def missing_reason(task: str, obs: str) -> str:
    """Why a task has no official curve, for the plot's caption."""
    suite = "dmc_vision" if obs == "vision" else "dmc_proprio"
    known = sorted(_data()["suites"].get(suite, {}).get("tasks", {}))
    return (f"no official DreamerV3 curve for {task} ({obs}): the official scores cover only dm_control tasks "
            f"({len(known)} for {obs}, e.g. {', '.join(known[:3])})")
