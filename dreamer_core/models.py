"""Trained models that ship with the app: model-only checkpoints, model cards, and where to find them.

A shipped model is a run directory, `dreamer_core/assets/models/<name>/`, holding
- `config.json`: the run's config, as a training run writes it;
- `model.ckpt`: a model-only checkpoint (`checkpoint.save` format) whose state has `kind: "model"`: the agent's
  weights, its return normaliser and counters (env frames, updates) as metadata; no replay, no optimizer state;
- `README.md`: the model card, a `key: value` front matter (as Hugging Face model cards) and a few lines of prose.

The models live inside the package so that a wheel (`pip install .`) carries them as package data; `resolve`
also maps the clone-relative spelling `assets/models/<name>` (and a bare `<name>`) onto that directory.

Opening one never writes to it: the trainer that holds it has no logdir, and its replay starts empty. `collect`
fills replay with a fresh real context from the env (policy steps, no updates), so reports show what the trained
model sees, reconstructs and imagines now.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from dreamer_core import env_steps

KIND = "model"  # the `kind` of a model-only checkpoint's state (a full training checkpoint has none)
MODEL_VERSION = 1  # version of the model-only layout below; bump when it changes
MODEL_FILE = "model.ckpt"
CARD_FILE = "README.md"
PREVIEW_FILE = "preview.png"  # optional: real frames over the open-loop dream, shown on the start page
PACKAGE_MODELS = Path(__file__).resolve().parent / "assets" / "models"
CLONE_PREFIX = ("assets", "models")  # `assets/models/<name>` from a clone's root names a packaged model
# The evaluation of a model card: a report of 16 context + 16 open-loop steps, and the return of the policy's
# first episode from a fresh reset, cut at 200 steps (a card may ask for more: eval_steps).
EVAL_CONTEXT = 16
EVAL_STEPS = 200
EVAL_SEED = 12345  # a seed no training run uses by default: the episode is fresh


class ModelError(ValueError):
    """A model directory or model-only checkpoint that cannot be used; the message says why and what to do."""


# ---------------------------------------------------------------------- finding models


def is_model_dir(path: str | Path) -> bool:
    return (Path(path) / MODEL_FILE).is_file()


def refuse_model_dir(logdir: str | Path) -> None:
    """Raises ValueError when `logdir` holds a trained model: a model directory (maybe the package's own) is never
    written, so no trainer may adopt it as its run directory."""
    if is_model_dir(logdir):
        raise ValueError(f"{logdir} holds a trained model ({MODEL_FILE}), which is read-only; watch it with "
                         f"the app (--open {logdir}; Continue training there trains a copy), or pass another "
                         "--logdir")


def resolve(path: str | Path) -> Path:
    """The directory `path` names: itself if it exists, else a packaged model (`assets/models/<name>` or
    `<name>`). Raises ModelError naming the shipped models when neither exists."""
    given = Path(path)
    if given.is_dir():
        return given
    parts = given.parts
    if parts[: len(CLONE_PREFIX)] == CLONE_PREFIX and len(parts) == len(CLONE_PREFIX) + 1:
        name = parts[-1]
    elif len(parts) == 1:
        name = parts[0]
    else:
        raise ModelError(f"{path} does not exist")
    packaged = PACKAGE_MODELS / name
    if packaged.is_dir():
        return packaged
    names = ", ".join(card.name for card in shipped()) or "none are shipped with this copy"
    raise ModelError(f"{path} does not exist and is not a shipped model (shipped models: {names})")


def locate(path: str | Path) -> Path:
    """`resolve(path)` where that finds a directory, else `path` unchanged (its caller reports what is missing)."""
    try:
        return resolve(path)
    except ModelError:
        return Path(path)


# ---------------------------------------------------------------------- model cards


@dataclass(frozen=True)
class ModelCard:
    """The front matter of a model's README.md; `path` is the model directory."""

    path: Path
    fields: dict[str, Any]

    @property
    def name(self) -> str:
        return str(self.fields.get("name") or self.path.name)

    def get(self, key: str, default: Any = None) -> Any:
        value = self.fields.get(key, default)
        return default if value is None else value

    @property
    def world_model_only(self) -> bool:
        """Shipped to watch its world model: its policy was no better than an untrained agent's (no return check),
        and the card says so (scripts/ship_model.py --world-model-only)."""
        return self.fields.get("world_model_only") is True

    def summary(self) -> str:
        score = self.get("score")
        score = f"{score:.0f}" if isinstance(score, (int, float)) else "?"
        only = "; world model only: its policy is not trained yet" if self.world_model_only else ""
        return (f"{self.name}: {self.get('task', '?')} ({self.get('obs', '?')}), preset {self.get('preset', '?')}, "
                f"score {score}, {self.get('updates', 0):,} updates, {self.get('env_frames', 0):,} env frames{only}")


def _parse_value(text: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text  # a bare string (YAML allows it)


def read_card(model_dir: str | Path) -> ModelCard:
    """Parses the `---`-delimited front matter of README.md: one `key: value` per line, values JSON or bare text."""
    model_dir = Path(model_dir)
    path = model_dir / CARD_FILE
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise ModelError(f"{model_dir} has no readable model card {CARD_FILE} ({exc.strerror})") from None
    if not lines or lines[0].strip() != "---" or "---" not in (line.strip() for line in lines[1:]):
        raise ModelError(f"{path} has no front matter: it must start with a '---' line, 'key: value' lines, '---'")
    fields: dict[str, Any] = {}
    for line in lines[1:]:
        if line.strip() == "---":
            break
        key, sep, value = line.partition(":")
        if sep and key.strip():
            fields[key.strip()] = _parse_value(value.strip())
    return ModelCard(model_dir, fields)


def write_card(model_dir: str | Path, fields: dict[str, Any], body: str) -> Path:
    """Writes README.md: `fields` as JSON-valued front matter (readable by `read_card` and by YAML), then `body`."""
    lines = ["---"] + [f"{key}: {json.dumps(value)}" for key, value in fields.items()] + ["---", "", body.strip(), ""]
    path = Path(model_dir) / CARD_FILE
    path.write_text("\n".join(lines), encoding="utf-8")
    return path


def shipped(root: str | Path | None = None) -> list[ModelCard]:
    """Cards of the models under `root` (default: the packaged models), by name; unreadable ones are left out."""
    root = Path(root) if root is not None else PACKAGE_MODELS
    cards = []
    for folder in sorted(root.iterdir()) if root.is_dir() else []:
        if is_model_dir(folder) and not folder.name.startswith("."):  # ".<name>.staging": being shipped
            try:
                cards.append(read_card(folder))
            except ModelError:
                continue
    return cards


# ---------------------------------------------------------------------- the model-only checkpoint


def model_state(full: dict[str, Any], fp16: bool = False, vector_scale=None) -> dict[str, Any]:
    """The model-only state of a full training checkpoint's state (as `Trainer.save` writes it). `vector_scale`
    (V,), a vector model's spread of its real vectors over the training replay (`Trainer.vector_scale_now`,
    `training_scale`), is kept so that a viewer's open-loop signal has the scale it was trained on (the viewer's own
    replay holds one short context)."""
    import torch

    missing = [key for key in ("config", "agent", "counters") if key not in full]
    if missing:
        raise ModelError(f"not a training checkpoint: it lacks {', '.join(missing)}")
    weights = full["agent"]["model"]
    if fp16:  # halves the file; loading copies the values back into the fp32 parameters
        weights = {k: v.half() if torch.is_floating_point(v) else v for k, v in weights.items()}
    return {
        "kind": KIND, "model_version": MODEL_VERSION, "config": full["config"],
        "agent": {"model": weights, "retnorm": full["agent"]["retnorm"], "updates": int(full["agent"]["updates"]),
                  "skipped": int(full["agent"].get("skipped", 0))},
        "counters": {k: v for k, v in full["counters"].items() if k != "train_credit"},
        "scores": [list(s) for s in full.get("scores", [])][-100:],
        "dtype": "float16" if fp16 else "float32",
    } | ({} if vector_scale is None else {"vector_scale": [float(v) for v in vector_scale]})


def training_scale(replay: dict[str, Any], keys: list[str]) -> np.ndarray | None:
    """(V,) the spread of the vectors `keys` over a training checkpoint's saved replay (data (W, filled, ...): a
    worker's steps stored are its count, at most the saved prefix); None without keys."""
    from dreamer_core import confidence

    if not keys:
        return None
    stored = np.minimum(replay["counts"], replay["data"][keys[0]].shape[1])  # (W,)
    return confidence.stored_vector_scale(replay["data"], stored, keys)


def is_model_state(state: Any) -> bool:
    return isinstance(state, dict) and state.get("kind") == KIND


def read_model(path: str | Path) -> dict[str, Any]:
    """Loads and checks a model-only checkpoint (a file, or a model directory)."""
    from dreamer_core import checkpoint

    path = Path(path)
    if path.is_dir():
        path = path / MODEL_FILE
    state = checkpoint.load(path, map_location="cpu")
    if not is_model_state(state):
        raise ModelError(f"{path} is a training checkpoint, not a model-only one (no kind: {KIND!r}); open its "
                         "run directory instead, or make a model with scripts/ship_model.py")
    version = state.get("model_version")
    if not isinstance(version, int) or version > MODEL_VERSION:
        raise ModelError(f"{path} has model format version {version!r}; this code reads up to {MODEL_VERSION}. "
                         "Update dreamer_core to open it.")
    return state


def load_into(trainer, state: dict[str, Any], source: Any = "the model") -> None:
    """Puts a model-only state into a trainer built from the same config: weights, return normaliser, counters.
    The optimizer keeps its fresh state (and warms up again); replay is untouched (empty on a new trainer).
    All or nothing: everything is checked first, and `source` (the file) is named in a failure's one line."""
    from dreamer_core.config import Config

    if not isinstance(state, dict) or not isinstance(state.get("config"), str):
        raise ModelError(f"{source} holds no model config; make a model with scripts/ship_model.py")
    saved = Config.from_dict(json.loads(state["config"]))
    diffs = [f"{section}.{key}: model {value!r} vs this run {getattr(getattr(trainer.config, section), key)!r}"
             for section in ("model", "env") for key, value in vars(getattr(saved, section)).items()
             if getattr(getattr(trainer.config, section), key) != value]
    if diffs:
        raise ModelError("the model was trained with another configuration:\n  " + "\n  ".join(diffs))
    from dreamer_core import trainer_state

    trainer_state.check_model(state, trainer, source)  # every piece fits before anything is swapped in
    agent = trainer.agent
    agent.load_state_dict(state["agent"]["model"])  # fp16 weights are copied into the fp32 parameters
    agent.retnorm.load_state_dict(state["agent"]["retnorm"])
    agent.updates, agent.skipped_updates = int(state["agent"]["updates"]), int(state["agent"]["skipped"])
    scale = state.get("vector_scale")  # absent in models shipped before it: the viewer's replay gives the scale
    trainer.vector_scale = np.asarray(scale, np.float64) if scale is not None else None
    for key, value in state["counters"].items():
        if hasattr(trainer.counters, key):
            setattr(trainer.counters, key, type(getattr(trainer.counters, key))(value))
    trainer.counters.train_credit = 0.0
    trainer.scores.clear()
    trainer.scores.extend(tuple(s) for s in state.get("scores", []))
    env_steps.reset_envs(trainer)  # the loaded policy starts its episodes afresh


def collect(trainer, steps: int) -> float:
    """`steps` policy steps in every env, stored in replay, without updates and without counting them as training
    frames (the model's counters stay those it was trained to). Returns the return of the first env's first
    episode: its rewards summed until it ends or the steps run out (an episode that ends early, as CartPole's
    does when the pole falls, scores only what it earned; summing on past it would score a fall and a restart)."""
    import torch

    first_return, first_running = 0.0, True
    with torch.no_grad():
        for _ in range(steps):
            action_np = env_steps.act_and_store(trainer)  # (B, A)
            if first_running:
                first_return += float(trainer.obs["reward"][0])
            trainer.episode_return += trainer.obs["reward"]
            trainer.episode_length += 1
            last = trainer.obs["is_last"].astype(bool)
            first_running = first_running and not last[0]
            trainer.episode_return[last] = 0.0  # a viewing episode is not a training score
            trainer.episode_length[last] = 0
            trainer.obs = env_steps.stack([env.step(action_np[i], reset=bool(last[i]))
                                           for i, env in enumerate(trainer.envs)])
    return first_return


def context_steps(config) -> int:
    """Policy steps before `Trainer.report` can make a report: a report window, and at least one replay item
    (a training window of batch_length + replay_context steps), plus one step to spare."""
    t = config.train
    return max(config.run.report_length, t.batch_length) + t.replay_context + 1


def open_model(model_dir: str | Path, device: str = "auto", seed: int | None = None,
               report_length: int | None = None, replay_size: int | None = None):
    """A trainer without a logdir holding the model in `model_dir`, with a fresh real context in replay. The
    caller closes it. `seed` seeds the envs and the policy's sampling (default: the run's seed)."""
    from dreamer_core.config import Config
    from dreamer_core.trainer import Trainer

    model_dir = resolve(model_dir)
    state = read_model(model_dir)
    config = Config.from_dict(json.loads(state["config"]))
    run = replace(config.run, device=device, compile=False, replay_size=replay_size or config.run.replay_size,
                  seed=config.run.seed if seed is None else seed,
                  report_length=report_length or config.run.report_length)
    trainer = Trainer(replace(config, run=run), None)
    try:
        load_into(trainer, state, model_dir / MODEL_FILE)
        collect(trainer, context_steps(trainer.config))
    except BaseException:
        trainer.close()
        raise
    return trainer


# ---------------------------------------------------------------------- evaluation (model cards and tests)


@dataclass(frozen=True)
class Evaluation:
    openloop_mse: float | None  # mean squared pixel error in [0, 1] of the open-loop frames; None without images
    eval_return: float  # the return of the first episode from a fresh reset, cut at the evaluation's steps
    report: Any = field(default=None, repr=False, compare=False)  # the report the error was measured on


def evaluate(trainer, steps: int = EVAL_STEPS) -> Evaluation:
    """Runs the policy `steps` steps from a fresh reset and makes a report on the newest window: the open-loop
    error (EVAL_CONTEXT context steps, then as many imagined under the true actions, as the report computes)."""
    env_steps.reset_envs(trainer)  # zeroes the running returns too, which collect never scores
    total = collect(trainer, steps)
    report = trainer.report()
    if report is None:
        raise ModelError(f"{steps} steps are too few for a report of {trainer.config.run.report_length} steps")
    mse = None
    if report.openloop is not None and report.real is not None:
        real = report.real[report.context_len :].astype(np.float32) / 255  # (T-Tc, h, w, 3), as the open loop
        mse = float(np.mean((report.openloop.astype(np.float32) / 255 - real) ** 2))
    return Evaluation(mse, total, report)


def eval_trainer(model_dir: str | Path | None = None, config=None, seed: int = EVAL_SEED):
    """The evaluation's trainer: the model in `model_dir`, or (with `config`) an untrained agent of that config."""
    from dreamer_core.trainer import Trainer

    length = 2 * EVAL_CONTEXT
    if model_dir is not None:
        return open_model(model_dir, device="cpu", seed=seed, report_length=length, replay_size=1000)
    run = replace(config.run, device="cpu", compile=False, seed=seed, report_length=length, replay_size=1000)
    return Trainer(replace(config, run=run), None)


def check(evaluation: Evaluation, card: ModelCard) -> list[str]:
    """The card's thresholds that `evaluation` misses (empty: it passes). A threshold the card leaves out (null)
    is not checked; `thresholds(card)` says which are set."""
    failures = []
    limit = card.get("openloop_max")
    if limit is not None and not (evaluation.openloop_mse is not None and evaluation.openloop_mse < limit):
        failures.append(f"open-loop image error {evaluation.openloop_mse} is not below {limit}")
    floor = card.get("return_min")
    if floor is not None and not evaluation.eval_return > floor:
        failures.append(f"return of the first episode (cut at {card.get('eval_steps', EVAL_STEPS)} steps) "
                        f"{evaluation.eval_return:.1f} is not above {floor}")
    return failures


def preview(report, steps: int = 8) -> np.ndarray | None:
    """(h', w', 3) uint8: the first `steps` imagined steps of a report, the real frames above the open-loop dream
    (green border: real, red: imagined) as an image_grid.bordered_grid, for a model's card and the start page.
    None without frames."""
    from dreamer_core import image_grid, video

    if report is None or report.real is None:
        return None
    ctx = report.context_len
    rows = [[(frame, video.CONTEXT) for frame in report.real[ctx : ctx + steps]]]  # (steps, h, w, 3) real frames
    if report.openloop is not None:
        rows.append([(frame, video.IMAGINED) for frame in report.openloop[:steps]])
    return image_grid.bordered_grid(rows, width=2)


def thresholds(card: ModelCard) -> list[str]:
    return [key for key in ("openloop_max", "return_min") if card.get(key) is not None]


def required_thresholds(card: ModelCard) -> list[str]:
    """The checks a shipped model must pass: its world model's where it sees pixels, and its policy's unless the
    card ships it as a world model only (which needs the image check: a proprio model could then prove nothing)."""
    return (["openloop_max"] if card.get("obs") == "vision" else []) + ([] if card.world_model_only else
                                                                         ["return_min"])


def pick_thresholds(trained: Evaluation, untrained: Evaluation) -> dict[str, float | None]:
    """Thresholds between a trained model and an untrained one of its config, or None where the trained one is no
    clearly better (then that check would not tell them apart): the geometric mean of the two image errors, the
    midpoint of the two returns."""
    out: dict[str, float | None] = {"openloop_max": None, "return_min": None}
    a, b = trained.openloop_mse, untrained.openloop_mse
    if a is not None and b is not None and a < 0.8 * b:
        out["openloop_max"] = float(f"{math.sqrt(max(a, 1e-12) * b):.3g}")
    r, u = trained.eval_return, untrained.eval_return
    if r > u + max(1.0, 0.1 * abs(u)):
        out["return_min"] = float(f"{(r + u) / 2:.4g}")
    return out
