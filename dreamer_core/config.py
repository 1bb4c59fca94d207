"""Configuration: frozen dataclasses with documented fields, size presets and per-domain blocks.

A config is built in layers, as in the official `configs.yaml`: defaults, then a domain block (`dmc_proprio`,
`dmc_vision`, `gym`), then a size preset, then the caller's overrides. Every field is plain data so a config
round-trips through `config.json` in the run directory.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import math
import re
import typing
from dataclasses import dataclass, field, fields, replace
from typing import Any

from dreamer_core import threads


@dataclass(frozen=True)
class ModelConfig:
    """Network sizes. Defaults are size1m; `SIZES` holds the official presets."""

    deter: int = 512  # D: recurrent state width (block GRU)
    hidden: int = 64  # width of the RSSM's input projections and prior/posterior MLPs
    stoch: int = 32  # S: number of categorical latents
    classes: int = 4  # C: classes per latent
    blocks: int = 8  # G: groups of the block-diagonal GRU (and the decoder's block-linear start map)
    depth: int = 4  # CNN channel multiplier: encoder channels depth*(2,3,4,4)
    units: int = 64  # width of every MLP (encoder, decoder, heads)
    enc_layers: int = 3
    dec_layers: int = 3
    rew_layers: int = 1
    con_layers: int = 1
    actor_layers: int = 3
    critic_layers: int = 3
    img_layers: int = 2  # prior MLP depth
    obs_layers: int = 1  # posterior MLP depth
    kernel: int = 5  # conv kernel size (stride 1 + 2x2 max-pool)
    unimix: float = 0.01  # uniform mix of the latent categoricals
    actor_unimix: float = 0.0  # HEAD's `categorical` actor head applies none (the paper says 1%); see README
    bins: int = 255  # symexp two-hot bins for reward and critic
    act_std_min: float = 0.1  # bounded-normal actor std range
    act_std_max: float = 1.0


@dataclass(frozen=True)
class TrainConfig:
    """Losses, imagination and the optimizer (official HEAD defaults)."""

    batch_size: int = 16  # B
    batch_length: int = 64  # T (the sampled window is T + replay_context)
    replay_context: int = 1  # leading steps whose stored latent starts the window
    imag_horizon: int = 15  # H
    lam: float = 0.95  # lambda of the lambda-returns
    discount_horizon: int = 333  # gamma = 1 - 1/discount_horizon, folded into the continue target (not the
    # imagined steps: that is imag_horizon). Was `horizon` before; config files that say so still load
    free_nats: float = 1.0  # free bits on the KL summed over latents, per (b, t)
    scale_rec: float = 1.0  # decoder loss per observation key
    scale_rew: float = 1.0
    scale_con: float = 1.0
    scale_dyn: float = 1.0
    scale_rep: float = 0.1
    scale_policy: float = 1.0
    scale_value: float = 1.0
    scale_repval: float = 0.3
    actent: float = 3e-4  # entropy bonus of the actor
    slowreg: float = 1.0  # critic regulariser towards the slow critic's mean
    slow_rate: float = 0.02  # slow critic EMA mix per update
    retnorm_decay: float = 0.99  # percentile EMA decay
    retnorm_lo: float = 5.0
    retnorm_hi: float = 95.0
    retnorm_limit: float = 1.0  # S = max(limit, hi - lo)
    lr: float = 4e-5
    eps: float = 1e-20
    beta1: float = 0.9  # LaProp momentum (applied after RMS normalisation)
    beta2: float = 0.999
    agc: float = 0.3  # per-tensor adaptive gradient clipping
    agc_floor: float = 1e-3
    warmup: int = 1000  # linear learning-rate warm-up, in updates


@dataclass(frozen=True)
class EnvConfig:
    """Which task and how it is observed."""

    task: str = "dmc_cartpole_balance"  # dmc_<domain>_<task>, gym_<EnvId>, or dummy_<disc|cont>
    obs: str = "proprio"  # proprio | vision
    size: int = 64  # image height and width
    action_repeat: int = 2
    camera: int = -1  # -1: camera 0, or 2 for quadruped
    shadows: bool = False  # dm_control shadows; off renders ~3x faster on CPU llvmpipe
    log_image: bool = True  # proprio tasks also render a frame for display (never a model input)
    time_limit: int = 0  # episode length in agent steps for gym tasks; 0 keeps the env's own


@dataclass(frozen=True)
class RunConfig:
    """The act / store / train loop."""

    steps: int = 50_000  # agent steps to run (env frames = steps * action_repeat)
    envs: int = 1  # environments stepped every agent step (the agent acts on all N at once)
    parallel: bool = False  # true: each env in its own worker process (spawned), all N stepped concurrently, a
    # crashed or killed worker restarted like a crashed env; false: stepped one after another in this process
    train_ratio: float = 512.0  # replayed steps per agent step; updates per agent step = ratio / (B*T)
    replay_size: int = 1_000_000  # FIFO capacity in steps
    online_queue: bool = True  # train each fresh window at least once
    train_fill: int = 0  # agent steps before training; 0 means B*T (1024 at the defaults, as the official code)
    report_every: float = 30.0  # seconds between reports
    report_batch: int = 4  # envs whose newest windows the reports show in turn (a report is one sequence)
    report_length: int = 32  # steps in a report: half context, half open-loop
    report_samples: int = 3  # K sampled futures in a report
    log_every: float = 10.0  # seconds between metrics.jsonl lines
    save_every: float = 900.0  # seconds between checkpoints
    seed: int = 0
    device: str = "auto"  # auto | cpu | cuda
    threads: int | str = "auto"  # torch intra-op threads; a count is fixed (0: torch's default, spinning OpenMP
    # waits); auto: OpenMP threads that sleep while they wait, a count re-timed now and then (dreamer_core/threads.py)
    compile: bool = False  # torch.compile the RSSM and imagination steps: ~1.2x faster updates on CPU, but the
    # first update compiles (20-90 s; needs a C++ compiler on CPU) and falls back to eager if compiling fails
    env_failures: int = 5  # an env that raises is closed, rebuilt and its episode ended; this many failures
    env_failure_window: int = 1_000  # within this many agent steps stop the run (after a save); 0: never stop
    nonfinite_limit: int = 100  # this many non-finite (skipped) updates in a row stop the CLI (after a save) and
    # pause the app, naming what went non-finite first; 0: never stop
    precision: str = "auto"  # fp32 | bf16 | auto. bf16 autocasts the forward passes (matmuls and convs) to
    # bfloat16 as HEAD computes; parameters, optimizer, norms, distributions and losses stay float32. auto is bf16
    # on a CUDA GPU that has it, fp32 on CPU, where bf16's speed depends on the CPU (docs/results/bf16.md)
    tensorboard: bool = False  # also write TensorBoard events to the run directory (pip install tensorboard)
    watch_every: float = 60.0  # seconds between model-only snapshots (watch.ckpt, weights and counters) that a
    # watching Studio loads, so a watched run is at most this old between checkpoints; 0: none. Never resumed from


@dataclass(frozen=True)
class Config:
    model: ModelConfig = field(default_factory=ModelConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    env: EnvConfig = field(default_factory=EnvConfig)
    run: RunConfig = field(default_factory=RunConfig)
    preset: str = "size1m"

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, sort_keys=True)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Config:
        """A config read from a file (config.json, a checkpoint): each value is coerced to its field's type and the
        whole is validated, so a file from someone else is data that cannot reach an import, a path or a crash."""
        if not isinstance(data, dict):
            raise ValueError(f"a config must be a JSON object of sections, got {type(data).__name__}")
        sections = {f.name for f in fields(cls)}
        kwargs: dict[str, Any] = {}
        for key, value in data.items():
            if key not in sections:
                raise ValueError(f"config has an unknown section {key!r}; known: {sorted(sections)}")
            if key == "preset":
                kwargs[key] = coerce("preset", value, str)
                continue
            if not isinstance(value, dict):
                raise ValueError(f"config section {key!r} must be an object of fields, got {value!r}")
            section_cls = _SECTION_TYPES[key]
            value = _renamed_fields(key, value)
            _check_keys(section_cls, value, key)
            hints = typing.get_type_hints(section_cls)
            kwargs[key] = section_cls(**{k: coerce(f"{key}.{k}", v, hints[k]) for k, v in value.items()})
        config = cls(**kwargs)
        validate(config)
        return config


_SECTION_TYPES = {"model": ModelConfig, "train": TrainConfig, "env": EnvConfig, "run": RunConfig}

# Fields renamed since config files were first written: {section: {old name: new name}}.
_RENAMED = {"train": {"horizon": "discount_horizon"}}


def _renamed_fields(section: str, values: dict[str, Any]) -> dict[str, Any]:
    """A section of a saved config with its old field names replaced by the current ones."""
    renames = _RENAMED.get(section, {})
    if not any(old in values for old in renames):
        return values
    out = {}
    for name, value in values.items():
        new = renames.get(name, name)
        if new in values and new != name:
            raise ValueError(f"config section {section!r} has both {name!r} and its new name {new!r}")
        out[new] = value
    return out


def _check_keys(section_cls: type, values: dict[str, Any], section: str) -> None:
    known = {f.name for f in fields(section_cls)}
    unknown = set(values) - known
    if unknown:
        raise ValueError(
            f"config section {section!r} has unknown field(s) {sorted(unknown)}; known fields: {sorted(known)}"
        )


# Official size presets (HEAD configs.yaml): deter, hidden, classes, depth, units.
SIZES: dict[str, dict[str, int]] = {
    "size1m": dict(deter=512, hidden=64, classes=4, depth=4, units=64),
    "size12m": dict(deter=2048, hidden=256, classes=16, depth=16, units=256),
    "size25m": dict(deter=3072, hidden=384, classes=24, depth=24, units=384),
    "size50m": dict(deter=4096, hidden=512, classes=32, depth=32, units=512),
    "size100m": dict(deter=6144, hidden=768, classes=48, depth=48, units=768),
    "size200m": dict(deter=8192, hidden=1024, classes=64, depth=64, units=1024),
    "size400m": dict(deter=12288, hidden=1536, classes=96, depth=96, units=1536),
}

# Small presets of our own, for tests and for CPU-only machines. Same architecture, smaller widths/batches.
SMALL: dict[str, dict[str, dict[str, Any]]] = {
    # A tiny model that runs a train step in well under a second: tests and smoke runs.
    "debug": dict(
        model=dict(deter=64, hidden=16, stoch=8, classes=4, blocks=8, depth=2, units=16),
        train=dict(batch_size=4, batch_length=16, imag_horizon=5, warmup=10),
        run=dict(train_ratio=64.0, report_every=5.0, report_batch=2, report_length=16, log_every=2.0),
    ),
    # Small enough that decoded frames visibly improve within minutes on 2 CPU cores.
    "cpu": dict(
        model=dict(deter=256, hidden=64, stoch=32, classes=4, blocks=8, depth=4, units=64),
        train=dict(batch_size=8, batch_length=32, warmup=100),
        run=dict(train_ratio=64.0, report_every=15.0, log_every=5.0),
    ),
}

PRESETS = tuple(SMALL) + tuple(SIZES)

# Domain blocks, merged before the size preset (as configs.yaml merges `dmc_proprio` etc.).
DOMAINS: dict[str, dict[str, dict[str, Any]]] = {
    "dmc_proprio": dict(env=dict(obs="proprio", action_repeat=2), run=dict(train_ratio=512.0)),
    "dmc_vision": dict(env=dict(obs="vision", action_repeat=2), run=dict(train_ratio=512.0)),
    "gym": dict(env=dict(action_repeat=1), run=dict(train_ratio=512.0)),
    "dummy": dict(env=dict(action_repeat=1)),
    # HEAD configs.yaml `atari` (env.atari size 96, repeat 4; run train_ratio 32, steps 5.1e7, 16 envs) and
    # `atari100k` (env.atari100k size 64, repeat 4; run train_ratio 256, steps 1.1e5, 1 env). Pixels only.
    "atari": dict(env=dict(obs="vision", size=96, action_repeat=4),
                  run=dict(train_ratio=32.0, steps=51_000_000, envs=16)),
    "atari100k": dict(env=dict(obs="vision", size=64, action_repeat=4),
                      run=dict(train_ratio=256.0, steps=110_000, envs=1)),
}


def domain_of(task: str, obs: str) -> str:
    """The per-domain block of DOMAINS that a task and observation mode take (a ValueError for an unknown task)."""
    from dreamer_core.envs import task_family  # lazy, as check_task below

    family = task_family(task)
    if family == "dmc":
        return "dmc_vision" if obs == "vision" else "dmc_proprio"
    return family


def apply(config: Config, overrides: dict[str, dict[str, Any]]) -> Config:
    """Returns `config` with section overrides applied, rejecting unknown fields."""
    updated = {}
    for section, values in overrides.items():
        if section not in _SECTION_TYPES:
            raise ValueError(f"unknown config section {section!r}; known: {sorted(_SECTION_TYPES)}")
        _check_keys(_SECTION_TYPES[section], values, section)
        hints = typing.get_type_hints(_SECTION_TYPES[section])
        values = {k: coerce(f"{section}.{k}", v, hints[k]) for k, v in values.items()}
        updated[section] = replace(getattr(config, section), **values)
    return replace(config, **updated)


_TRUE, _FALSE = ("true", "yes", "on", "1"), ("false", "no", "off", "0")


def coerce(name: str, value: Any, kind: type) -> Any:
    """`value` as the field's type (`--set` values arrive as JSON or raw strings), or a ValueError naming the
    field. Strict where a wrong guess would silently change a run: `False` as a string is not truthy here."""
    if kind is bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, (int, str)) and str(value).strip().lower() in _TRUE + _FALSE:
            return str(value).strip().lower() in _TRUE
        raise ValueError(f"{name} must be true or false, got {value!r}; e.g. --set {name}=false")
    if kind is int:
        if isinstance(value, float) and value.is_integer():
            return int(value)
        if isinstance(value, str):
            with contextlib.suppress(ValueError):
                return int(value)  # "1000", "1_000"
            with contextlib.suppress(ValueError):
                if float(value).is_integer():  # "1e5", "100000.0"
                    return int(float(value))
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        raise ValueError(f"{name} must be a whole number, got {value!r}; e.g. --set {name}=1000")
    if kind is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
        if isinstance(value, str):
            try:
                return float(value)
            except ValueError:
                pass
        raise ValueError(f"{name} must be a number, got {value!r}; e.g. --set {name}=1e-4")
    if kind == int | str:  # run.threads: a count or "auto"
        return threads.parse_setting(name, value)
    if kind is str:
        if isinstance(value, str):
            return value
        raise ValueError(f"{name} must be a string, got {value!r}")
    return value


def make_config(
    task: str = "dmc_cartpole_balance",
    obs: str = "proprio",
    preset: str = "size1m",
    overrides: dict[str, dict[str, Any]] | None = None,
) -> Config:
    """Defaults -> domain block -> size preset -> overrides."""
    if obs not in ("proprio", "vision"):
        raise ValueError(f"obs must be 'proprio' or 'vision', got {obs!r}")
    if preset not in PRESETS:
        raise ValueError(f"unknown preset {preset!r}; choose one of {', '.join(PRESETS)}")
    config = Config(env=EnvConfig(task=task, obs=obs), preset=preset)
    config = apply(config, DOMAINS[domain_of(task, obs)])
    if preset in SIZES:
        config = apply(config, {"model": SIZES[preset]})
    else:
        config = apply(config, SMALL[preset])
    config = apply(config, overrides or {})
    validate(config)
    return config


def validate(config: Config) -> None:
    from dreamer_core.envs import check_task  # lazy: the env backends stay unimported until a task needs them

    if config.preset not in PRESETS:
        raise ValueError(f"preset {config.preset!r} is unknown; choose one of {', '.join(PRESETS)}")
    check_task(config.env.task)
    _check_fields(config)
    m, t = config.model, config.train
    if m.deter % m.blocks:
        raise ValueError(f"model.deter ({m.deter}) must be divisible by model.blocks ({m.blocks})")
    if (4 * m.depth) % m.blocks:
        raise ValueError(f"4*model.depth ({4 * m.depth}) must be divisible by model.blocks ({m.blocks})")
    if config.env.size % 16 or not 3 <= config.env.size // 16 <= 16:
        raise ValueError(f"env.size must be a multiple of 16 between 48 and 256, got {config.env.size}")
    if t.batch_length < 2 or t.replay_context < 1:
        raise ValueError("train.batch_length must be >= 2 and train.replay_context >= 1")
    if config.run.train_ratio <= 0:
        raise ValueError(f"run.train_ratio must be positive, got {config.run.train_ratio}")
    minimums = {"train.batch_size": (t.batch_size, 1), "train.imag_horizon": (t.imag_horizon, 2),
                "run.envs": (config.run.envs, 1), "run.steps": (config.run.steps, 1),
                "env.action_repeat": (config.env.action_repeat, 1),
                "run.report_samples": (config.run.report_samples, 1),
                "run.report_batch": (config.run.report_batch, 1), "run.report_length": (config.run.report_length, 2)}
    for name, (value, least) in minimums.items():
        if value < least:
            raise ValueError(f"{name} must be at least {least}, got {value}")
    if config.run.replay_size < config.run.envs * (t.batch_length + t.replay_context + 1):
        raise ValueError(f"run.replay_size ({config.run.replay_size}) must hold at least one window per env "
                         f"(run.envs * (train.batch_length + train.replay_context + 1) steps)")
    if not re.fullmatch(r"auto|cpu|cuda(:\d+)?", config.run.device):
        raise ValueError(f"run.device must be auto, cpu, cuda or cuda:<index>, got {config.run.device!r}")
    threads.parse_setting("run.threads", config.run.threads)
    if config.run.precision not in ("auto", "fp32", "bf16"):
        raise ValueError(f"run.precision must be auto, fp32 or bf16, got {config.run.precision!r}")


INF = float("inf")
# Allowed range of every numeric field, as (low, high, low_open, high_open): a config from a file or `--set` with a
# value outside it (or nan / inf) would train nothing (lr=nan makes every weight NaN after one update) or crash.
# A numeric field missing here must be at least 0.
_RANGES: dict[str, tuple[float, float, bool, bool]] = {
    **{f"model.{k}": (1, INF, False, True) for k in ("deter", "hidden", "stoch", "classes", "blocks", "depth",
                                                     "units", "kernel")},
    **{f"model.{k}_layers": (0, INF, False, True) for k in ("enc", "dec", "rew", "con", "actor", "critic", "img",
                                                            "obs")},
    "model.unimix": (0, 1, False, True), "model.actor_unimix": (0, 1, False, True), "model.bins": (2, INF, False, True),
    "model.act_std_min": (0, INF, True, True), "model.act_std_max": (0, INF, True, True),
    "train.batch_size": (1, INF, False, True), "train.batch_length": (2, INF, False, True),
    "train.replay_context": (1, INF, False, True), "train.imag_horizon": (2, INF, False, True),
    "train.lam": (0, 1, False, False), "train.discount_horizon": (1, INF, True, True), "train.free_nats": (0, INF, False, True),
    **{f"train.{k}": (0, INF, False, True) for k in ("scale_rec", "scale_rew", "scale_con", "scale_dyn", "scale_rep",
                                                     "scale_policy", "scale_value", "scale_repval", "actent",
                                                     "slowreg", "agc", "warmup")},
    "train.slow_rate": (0, 1, False, False), "train.retnorm_decay": (0, 1, False, True),
    "train.retnorm_lo": (0, 100, False, False), "train.retnorm_hi": (0, 100, False, False),
    "train.retnorm_limit": (0, INF, True, True), "train.lr": (0, INF, True, True), "train.eps": (0, INF, True, True),
    "train.beta1": (0, 1, False, True), "train.beta2": (0, 1, False, True), "train.agc_floor": (0, INF, True, True),
    "env.action_repeat": (1, INF, False, True), "env.camera": (-1, INF, False, True),
    "env.time_limit": (0, INF, False, True),
    "run.steps": (1, INF, False, True), "run.envs": (1, INF, False, True), "run.train_ratio": (0, INF, True, True),
    "run.replay_size": (1, INF, False, True), "run.train_fill": (0, INF, False, True),
    "run.report_every": (0, INF, False, True), "run.report_batch": (1, INF, False, True),
    "run.report_length": (2, INF, False, True), "run.report_samples": (1, INF, False, True),
    "run.log_every": (0, INF, False, True), "run.save_every": (0, INF, False, True),
    "run.watch_every": (0, INF, False, True),
    "run.seed": (0, 2**32 - 1, False, False),
}


def _interval(low: float, high: float, low_open: bool, high_open: bool) -> str:
    def num(x: float) -> str:
        return f"{x:,}" if isinstance(x, int) else f"{x:g}"

    if high == INF:
        return f"> {num(low)}" if low_open else f"at least {num(low)}"
    return f"in {'(' if low_open else '['}{num(low)}, {num(high)}{')' if high_open else ']'}"


def _check_fields(config: Config) -> None:
    """Every field has its declared type, every number is finite and inside its range; one line naming the field."""
    for section, section_cls in _SECTION_TYPES.items():
        values = getattr(config, section)
        if not isinstance(values, section_cls):
            raise ValueError(f"config section {section!r} must be a {section_cls.__name__}, got {values!r}")
        for key, kind in typing.get_type_hints(section_cls).items():
            name, value = f"{section}.{key}", getattr(values, key)
            numeric = kind in (int, float)
            if (isinstance(value, bool) != (kind is bool)) or not isinstance(value, (int, float) if kind is float
                                                                                  else kind):
                kind_name = getattr(kind, "__name__", str(kind))  # run.threads is int | str
                raise ValueError(f"{name} must be {'a number' if numeric else 'a ' + kind_name}, got {value!r}")
            if kind is float and not math.isfinite(value):
                raise ValueError(f"{name} must be a finite number, got {value!r}")
            bounds = _RANGES.get(name, (0, INF, False, True))  # a field without an entry: never negative
            if numeric:
                low, high, low_open, high_open = bounds
                if value < low or value > high or (low_open and value == low) or (high_open and value == high):
                    raise ValueError(f"{name} must be {_interval(*bounds)}, got {value!r}")
    m, t = config.model, config.train
    pairs = [("model.kernel", m.kernel % 2 == 1, "an odd number (a 'same' conv keeps the image size)"),
             ("model.act_std_max", m.act_std_max >= m.act_std_min, f"at least model.act_std_min ({m.act_std_min})"),
             ("train.retnorm_hi", t.retnorm_hi > t.retnorm_lo, f"above train.retnorm_lo ({t.retnorm_lo})"),
             ("run.seed", config.run.seed + config.run.envs <= 2**32, "at most 2**32 - run.envs (numpy seeds)")]
    for name, ok, what in pairs:
        if not ok:
            raise ValueError(f"{name} must be {what}, got {_field_value(config, name)!r}")


def _field_value(config: Config, name: str) -> Any:
    section, key = name.split(".")
    return getattr(getattr(config, section), key)


def parse_overrides(items: list[str]) -> dict[str, dict[str, Any]]:
    """Parses `section.field=value` strings (values as JSON when possible) into an overrides dict."""
    out: dict[str, dict[str, Any]] = {}
    for item in items:
        if "=" not in item or "." not in item.split("=", 1)[0]:
            raise ValueError(f"override {item!r} must look like section.field=value, e.g. train.lr=1e-4")
        key, raw = item.split("=", 1)
        section, name = key.split(".", 1)
        try:
            value = json.loads(raw)
        except json.JSONDecodeError:
            value = raw
        out.setdefault(section, {})[name] = value
    return out
