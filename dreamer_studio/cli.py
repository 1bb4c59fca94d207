"""The `dreamer-studio` command line, one parser tree for the whole program:

    dreamer-studio [run flags] [--open RUN_DIR] [--paused]   the desktop app
    dreamer-studio train [run flags] [--fresh] [--window]    train in this terminal (or, with --window, in the app)
    dreamer-studio train --from-model MODEL_DIR [run flags]  train a trained model on, in a new run directory
    dreamer-studio export --logdir DIR --out x.mp4           imagined rollouts of a run as a labelled video

The run flags and their defaults are the same for the app and for `train`. This module imports no Qt: the window's
code is imported only once a window is to open, so `train`, `export` and `--help` run on a machine without one.

Errors a user can cause (unknown task, bad override, corrupt checkpoint) print one clear line and exit 2.
Ctrl-C, SIGTERM and SIGHUP stop training between two steps, save a consistent checkpoint and exit 128 + the
signal's number (130, 143, 129); a second Ctrl-C exits at once without saving. A run that cannot go on (its env
keeps failing, every update is non-finite) saves, says why and exits 1.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import shlex
import signal
import sys
import threading
import time
from collections import deque
from pathlib import Path
from typing import Any

from dreamer_core.config import PRESETS, Config, apply, make_config, parse_overrides, validate

PROG = "dreamer-studio"
DEFAULT_TASK, DEFAULT_OBS, DEFAULT_PRESET = "dmc_cartpole_balance", "vision", "cpu"


def add_run_flags(parser: argparse.ArgumentParser) -> set[str]:
    """Adds the flags that describe a run, the same with the same defaults for the app and for `train`; returns
    their option strings."""
    before = len(parser._actions)
    parser.add_argument("--task", default=DEFAULT_TASK,
                        help="dmc_<domain>_<task>, gym_<EnvId>, atari_<game>, atari100k_<game> or dummy_disc / "
                             "dummy_cont (default %(default)s)")
    parser.add_argument("--obs", default=DEFAULT_OBS, choices=["vision", "proprio"], help="default %(default)s")
    parser.add_argument("--preset", default=DEFAULT_PRESET, choices=PRESETS, help="default %(default)s")
    parser.add_argument("--frames", type=int, default=None,
                        help="env frames to train for, action repeat included (default: the task's run.steps "
                             "agent steps × the action repeat)")
    parser.add_argument("--steps", type=int, default=None, help="deprecated name of --frames (env frames too)")
    parser.add_argument("--ratio", type=float, default=None, help="train ratio: replayed steps per agent step")
    parser.add_argument("--repeat", type=int, default=None, help="action repeat")
    parser.add_argument("--envs", type=int, default=None, help="environments stepped per agent step")
    parser.add_argument("--seed", type=int, default=None, help="default: run.seed (0)")
    parser.add_argument("--device", default=None, help="auto | cpu | cuda (default: run.device, auto)")
    parser.add_argument("--logdir", default=None,
                        help="run directory for metrics and checkpoints; an existing one is resumed (default: a new "
                             "one under runs/ for train, runs/studio/ for the app)")
    parser.add_argument("--compile", action="store_true",
                        help="torch.compile the RSSM and imagination steps (faster updates after a one-off compile)")
    parser.add_argument("--set", nargs="*", default=[], metavar="SECTION.FIELD=VALUE",
                        help="override any config field, e.g. train.lr=1e-4 run.report_every=60")
    return {option for action in parser._actions[before:] for option in action.option_strings}


def frames_flag(args: argparse.Namespace) -> tuple[str, int | None]:
    """The flag that set the run's length (`--frames`, or the deprecated `--steps`) and its value."""
    if args.frames is not None and args.steps is not None:
        raise ValueError("--steps is the old name of --frames: pass one of them")
    return ("--steps", args.steps) if args.steps is not None else ("--frames", args.frames)


def config_from_args(args: argparse.Namespace, base: Config | None = None) -> Config:
    """The run's config: `--task`/`--obs`/`--preset` with the flags and `--set` on top, or, given `base` (a trained
    model's own config, `train --from-model`), the flags and `--set` on top of that."""
    overrides = parse_overrides(args.set)
    run = overrides.setdefault("run", {})
    env = overrides.setdefault("env", {})
    if args.repeat is not None:
        env["action_repeat"] = args.repeat
    if args.ratio is not None:
        run["train_ratio"] = args.ratio
    if args.envs is not None:
        run["envs"] = args.envs
    if args.seed is not None:
        run["seed"] = args.seed
    if args.device is not None:
        run["device"] = args.device
    if args.compile:
        run["compile"] = True
    flag, frames = frames_flag(args)
    if frames is not None and frames < 1:  # would run one step and save; say so instead
        raise ValueError(f"{flag} must be a positive number of env frames, got {frames}; e.g. --frames 100000")
    def build(overrides: dict[str, dict[str, Any]]) -> Config:
        if base is None:
            return make_config(args.task, args.obs, args.preset, overrides)
        config = apply(base, overrides)
        validate(config)
        return config

    config = build(overrides)
    if frames is not None:  # run.steps counts agent steps: one per action repeat of env frames
        config = build({**overrides, "run": {**run, "steps": max(1, frames // config.env.action_repeat)}})
    return config


def model_to_continue(args: argparse.Namespace):
    """`train --from-model MODEL`: (the model-only checkpoint's file, its state, its config). MODEL is a model
    directory (a shipped name too) or a model-only file (a model.ckpt, a run's watch.ckpt). The model's task,
    observation and preset are the run's: a --task, --obs or --preset naming others is refused in one line."""
    from dreamer_core import models

    given = Path(args.from_model)
    path = given if given.is_file() else models.resolve(given) / models.MODEL_FILE
    state = models.read_model(path)
    config = Config.from_dict(json.loads(state["config"]))
    own = {"--task": config.env.task, "--obs": config.env.obs, "--preset": config.preset}
    for flag, value in own.items():
        asked = getattr(args, flag[2:])
        if flag_given(args.argv, flag) and asked != value:
            raise ValueError(f"{flag} {asked} differs from the model's {value}: --from-model trains the model's own "
                             f"task, observation and preset; drop {flag}")
    return path, state, config


def flag_given(argv: list[str], flag: str) -> bool:
    return any(arg == flag or arg.startswith(flag + "=") for arg in argv)


def _format_score(score: float) -> str:
    return "-" if math.isnan(score) else f"{score:.1f}"


def _format_eta(seconds: float) -> str:
    if seconds == float("inf") or seconds != seconds:
        return "?"
    minutes, secs = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m" if hours else f"{minutes}m{secs:02d}s"


class StopRequest:
    """A signal handler that asks the loop to stop between two steps. Raising from the handler (as before) cut
    an update short after its credit was spent, so the saved state was one update short. SIGTERM / SIGHUP are a
    closed terminal or a scheduler's preemption; a second Ctrl-C means 'now' and raises KeyboardInterrupt."""

    def __init__(self) -> None:
        self.signum: int | None = None

    def __call__(self, signum, frame) -> None:  # noqa: ARG002 - signal handler signature
        if self.signum is not None and signum == signal.SIGINT:
            raise KeyboardInterrupt
        self.signum = signum

    @property
    def reason(self) -> str:
        return "interrupted" if self.signum == signal.SIGINT else signal.Signals(self.signum).name


@contextlib.contextmanager
def _signals(handlers: dict[signal.Signals, Any]):
    """Installs signal handlers for the block and restores the previous ones (main thread only, as Python
    allows; elsewhere, e.g. a test calling `main` from a thread, it does nothing)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {sig: signal.signal(sig, handler) for sig, handler in handlers.items()}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _save_uninterrupted(trainer) -> Path:
    """The final save, with Ctrl-C ignored: a second Ctrl-C must not cut a multi-GB write short."""
    with _signals({signal.SIGINT: signal.SIG_IGN}):
        trainer.flush()
        return trainer.save()


def _resume_command(argv: list[str], logdir: Path) -> str:
    """The command line that resumes this run: the one given, with the logdir made explicit and no --fresh."""
    argv = [a for a in argv if a != "--fresh"]
    if "--logdir" not in argv and not any(a.startswith("--logdir=") for a in argv):
        argv += ["--logdir", str(logdir)]
    return f"{PROG} " + shlex.join(argv)


def train(args: argparse.Namespace) -> int:
    """`train`: in this terminal, or with --window in the app (the same run the app's flags would start)."""
    if args.window:
        if args.fresh:
            raise ValueError("--fresh sets a run aside only when training in this terminal: drop --window, or "
                             "pass a new --logdir")
        if args.from_model:
            raise ValueError(f"--from-model trains in this terminal; in the app, open the model (--open "
                             f"{args.from_model}) and press Start/resume: it trains a copy")
        return open_app(args)
    from dreamer_core import models
    from dreamer_core.logdir import FROM_MODEL_KEPT, default_run_dir, write_origin
    from dreamer_core.trainer import Trainer

    model_file, model, base = model_to_continue(args) if args.from_model else (None, None, None)
    config = config_from_args(args, base)
    if args.steps is not None:
        print("note: --steps is the old name of --frames (both count env frames); it still works", flush=True)
    logdir = Path(args.logdir) if args.logdir else default_run_dir(config)
    trainer = Trainer(config, logdir, resume=not args.fresh)
    if model is not None and not trainer.resumed_from:
        try:
            models.load_into(trainer, model, model_file)
        except BaseException:
            trainer.close()
            raise
        try:
            write_origin(logdir, model_file.resolve(), trainer.updates, trainer.counters.env_frames, FROM_MODEL_KEPT)
        except OSError as exc:  # informative only: training goes on without it
            print(f"warning: could not write {logdir / 'origin.json'} ({exc})", flush=True)
    counts = trainer.agent.param_counts()
    repeat = config.env.action_repeat
    print(f"{PROG} train: {config.env.task} ({config.env.obs}), preset {config.preset}, "
          f"{config.run.steps * repeat:,} env frames (action repeat {repeat}), {sum(counts.values()):,} parameters, "
          f"device {trainer.device}, logdir {logdir}", flush=True)
    if trainer.set_aside_to:
        print(f"--fresh: moved the previous run's files to {trainer.set_aside_to}", flush=True)
    if trainer.compile_note:
        print(trainer.compile_note, flush=True)
    if trainer.resumed_from:
        print(f"resumed from {trainer.resumed_from} at {trainer.counters.env_frames:,} env frames"
              + ("; --from-model starts a run only once, so this run goes on from its own checkpoint"
                 if model is not None else ""), flush=True)
    elif model is not None:
        print(f"started from the trained model {model_file} at {trainer.counters.env_frames:,} env frames and "
              f"{trainer.updates:,} updates: replay starts empty (the first update waits for "
              f"{trainer.train_fill:,} steps) and the optimizer starts fresh; {model_file} is never written",
              flush=True)
    total = config.run.steps
    if trainer.done:
        print(f"nothing to do: the run is at {trainer.counters.env_frames:,} env frames, already at --frames "
              f"{total * repeat:,}; pass a larger --frames to train on", flush=True)
        _end(trainer)
        return 0
    last_score = trainer.scores[-1][1] if trainer.scores else float("nan")  # a resumed run's newest, from its checkpoint
    stop = StopRequest()
    stop_signals = {getattr(signal, name): stop for name in ("SIGINT", "SIGTERM", "SIGHUP") if hasattr(signal, name)}
    try:
        with _signals(stop_signals):
            fault = _train_loop(trainer, last_score, stop)
    except KeyboardInterrupt:  # a second Ctrl-C cut a step short: its state may be inconsistent, so keep the last
        print(f"\ninterrupted twice: exiting without saving; {trainer.intact_checkpoint()}", flush=True)
        _end(trainer, together=False)  # DDP: the other ranks may be anywhere
        return 130
    if stop.signum is not None or fault is not None:
        if fault is not None:
            print(f"{PROG}: error: {fault}", file=sys.stderr, flush=True)
        print(f"\n{stop.reason if fault is None else 'stopped'}: saving a checkpoint ...", flush=True)
        path = _final_save(trainer, args.argv, logdir)
        if path:
            print(f"saved {path}; to resume, run: {_resume_command(args.argv, logdir)}", flush=True)
        _end(trainer)
        return 128 + stop.signum if path and fault is None else 1
    path = _final_save(trainer, args.argv, logdir)
    if path:
        print(f"done: {trainer.counters.env_frames:,} env frames, {trainer.updates:,} updates; saved {path}",
              flush=True)
    _end(trainer)
    return 0 if path else 1


def _end(trainer, together: bool = True) -> None:
    """Closes the trainer and, under torchrun, leaves the process group (all ranks reach here at the same step:
    the stop and the end are decided together, distributed.any_rank)."""
    from dreamer_core import distributed

    trainer.close()
    distributed.leave(trainer.world, together)


def _final_save(trainer, argv: list[str], logdir: Path) -> Path | None:
    """Saves before exit. When that fails (disk full, say) it says what is kept and, at a terminal, offers to try
    again once the user has freed space; it returns None when the user gives up or nobody can answer."""
    from dreamer_core.checkpoint import SAVE_ERRORS

    while True:
        try:
            return _save_uninterrupted(trainer)
        except SAVE_ERRORS as exc:
            kept = trainer.intact_checkpoint()
            if trainer.checkpoint_frames is not None:
                kept += f"; resume from it with: {_resume_command(argv, logdir)}"
            print(f"{PROG}: error: could not save the checkpoint at {trainer.counters.env_frames:,} env "
                  f"frames ({exc}); {kept}", file=sys.stderr, flush=True)
        if not sys.stdin or not sys.stdin.isatty():
            return None
        try:
            input("Free disk space, then press Enter to try again (Ctrl-C gives up and loses the newer training): ")
        except (KeyboardInterrupt, EOFError):
            print(file=sys.stderr)
            return None


def _train_loop(trainer, last_score: float, stop: StopRequest):
    """Steps the trainer to its end or a stop signal, saving on schedule and printing a progress line every 5 s
    and every warning the trainer has (an env rebuilt, a full disk). Returns the `RunStopped` that ended the
    run early, or None."""
    from dreamer_core import distributed
    from dreamer_core.checkpoint import SAVE_ERRORS
    from dreamer_core.faults import RunStopped

    total = trainer.config.run.steps
    last_print = 0.0
    recent: deque[tuple[float, int]] = deque(maxlen=13)  # (time, agent steps) at the last ~60 s of prints
    # Under torchrun every rank leaves the loop at the same step when any rank got the signal (DDP, distributed.py)
    while not trainer.done and not distributed.any_rank(trainer.world, stop.signum is not None):
        try:
            info = trainer.step()
        except RunStopped as exc:
            _print_notes(trainer)
            return exc
        _print_notes(trainer)
        if info.scores:
            last_score = info.scores[-1]
        if trainer.save_due():
            try:
                trainer.save()
            except SAVE_ERRORS as exc:  # disk full, say: keep training
                print(f"could not save a checkpoint ({exc}); training on and retrying in 60 s "
                      f"({trainer.intact_checkpoint()})", flush=True)
                trainer.postpone_save(60.0)
        now = time.time()
        if now - last_print >= 5.0 or trainer.done:
            last_print = now
            # ETA from the last minute's pace: collection before training starts is much faster. A gap of
            # over 30 s between prints means the process was suspended (Ctrl-Z, SIGSTOP): start the pace anew.
            if recent and now - recent[-1][0] > 30.0:
                recent.clear()
            recent.append((now, trainer.counters.agent_steps))
            span, steps = now - recent[0][0], trainer.counters.agent_steps - recent[0][1]
            rate = steps / span if span > 0 else 0.0
            eta = (total - trainer.counters.agent_steps) / rate if rate > 0 else float("inf")
            skipped = trainer.agent.skipped_updates
            print(f"frames {trainer.counters.env_frames:>8,} | steps {trainer.counters.agent_steps:>7,}/{total:,}"
                  f" | updates {trainer.updates:>6,} ({trainer.rates['fps/updates']:.2f}/s)"
                  + (f", {skipped:,} skipped (non-finite)" if skipped else "") +
                  f" | env steps/s {trainer.rates['fps/policy']:.1f} | last score {_format_score(last_score)}"
                  f" | ETA {_format_eta(eta)}", flush=True)


def _print_notes(trainer) -> None:
    for note in trainer.take_notes():
        print(f"warning: {note}", flush=True)


def export(args: argparse.Namespace) -> int:
    from dreamer_core.export import export_rollout

    path = export_rollout(Path(args.logdir), Path(args.out), seed=args.seed, samples=args.samples,
                          horizon=args.horizon, fps=args.fps)
    print(f"wrote {path}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    """The whole command line: the app's flags at the top, `train` and `export` below."""
    parser = argparse.ArgumentParser(
        prog=PROG, formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Dreamer Studio: train DreamerV3 live in a desktop app and look inside its world model. "
                    "Without arguments the app opens on its start page (watch a trained model, or train one); any "
                    "run flag (--task, --frames, --set, ...) starts training in the window at once.",
        epilog=f"subcommands (no window):\n"
               f"  {PROG} train --headless ...   train in this terminal (headless is the default;\n"
               f"      `{PROG} train --help` lists its flags, `--window` trains in the app instead)\n"
               f"  {PROG} export --logdir DIR --out x.mp4   export imagined rollouts of a run as video")
    add_run_flags(parser)
    parser.add_argument("--open", dest="open_dir", default=None, metavar="RUN_DIR",
                        help="watch a run directory written by `train`, or a trained model (assets/models/<name>)")
    parser.add_argument("--paused", action="store_true", help="build the run but wait for Start")
    sub = parser.add_subparsers(dest="command", metavar="{train,export}")
    train_p = sub.add_parser("train", help="train in this terminal (no window unless --window)",
                             description="Train a run in this terminal: progress lines, checkpoints on a schedule "
                                         "and on Ctrl-C; running the same command again resumes it.")
    add_run_flags(train_p)
    train_p.add_argument("--fresh", action="store_true",
                         help="start over: set the logdir's previous run aside instead of resuming it")
    train_p.add_argument("--from-model", dest="from_model", default=None, metavar="MODEL_DIR",
                         help="train a trained model (assets/models/<name>, a model directory made by "
                              "scripts/ship_model.py, or a model-only file such as a run's watch.ckpt) on "
                              "in a new run directory: its task, observation, preset and counters; replay starts "
                              "empty and the optimizer fresh. Running the same command again resumes that run")
    train_p.add_argument("--window", dest="window", action="store_true", default=False,
                         help=f"train in the app's window instead (as `{PROG}` with these flags, minus --fresh)")
    train_p.add_argument("--headless", dest="window", action="store_false",
                         help="train in this terminal, without a window: the default; undoes an earlier --window")
    export_p = sub.add_parser("export", help="export imagined rollouts of a run as mp4 or gif")
    export_p.add_argument("--logdir", required=True, help="run directory holding latest.ckpt")
    export_p.add_argument("--out", required=True, help="output .mp4 or .gif")
    export_p.add_argument("--seed", type=int, default=0)
    export_p.add_argument("--samples", type=int, default=3)
    export_p.add_argument("--horizon", type=int, default=None)
    export_p.add_argument("--fps", type=int, default=10)
    return parser


def parse_args(argv: list[str]) -> argparse.Namespace:
    args = build_parser().parse_args(argv)
    args.argv = list(argv)  # the command as given: the resume command repeats it
    return args


def run_flags_given(args: argparse.Namespace) -> bool:
    """Whether the command line asks for a run (any run flag but --device, or --paused): the app then trains at
    once instead of showing its start page."""
    flags = add_run_flags(argparse.ArgumentParser(add_help=False)) - {"--device"} | {"--paused"}
    return any(arg.split("=", 1)[0] in flags for arg in args.argv)


def open_app(args: argparse.Namespace) -> int:
    from dreamer_studio.app import main as app_main  # the first import of the window's code (and of Qt)

    return app_main(args)


def report_user_errors(prog: str, command, *args) -> int:
    """Runs `command(*args)`; a problem a user can cause (a bad flag value, a missing file, a damaged checkpoint)
    prints one line `prog: error: ...` and returns 2, instead of a traceback."""
    from dreamer_core.checkpoint import CheckpointError

    try:
        return command(*args)
    except (ValueError, FileNotFoundError, CheckpointError) as exc:
        print(f"{prog}: error: {exc}", file=sys.stderr)
        return 2


def prepare_threads(args: argparse.Namespace) -> None:
    """run.threads=auto asks for a passive OpenMP wait policy, which libgomp reads only when torch loads it: so it is
    set here, before anything imports torch (a bad --set value is reported later, with the other flags)."""
    from dreamer_core.config import RunConfig
    from dreamer_core.threads import parse_setting, prepare_openmp

    with contextlib.suppress(ValueError):
        setting = parse_overrides(getattr(args, "set", [])).get("run", {}).get("threads", RunConfig.threads)
        prepare_openmp(parse_setting("run.threads", setting))


def main(argv: list[str] | None = None) -> int:
    """The program: returns its exit code (also for --help and a flag argparse refuses, 0 and 2)."""
    try:
        args = parse_args(sys.argv[1:] if argv is None else argv)
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else 2
    prepare_threads(args)
    if args.command is None:
        return open_app(args)
    return report_user_errors(PROG, train if args.command == "train" else export, args)


if __name__ == "__main__":
    sys.exit(main())
