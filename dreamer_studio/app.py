"""`dreamer-studio` with no subcommand: the desktop app.

    dreamer-studio [--task T] [--obs vision|proprio] [--preset P] [--seed N] [--device auto|cpu|cuda]
                   [--logdir DIR] [--open RUN_DIR] [--paused] [--set section.field=value ...]

Without arguments it opens on the start page: watch a shipped trained model at once, or train one live. Any
training flag (--task, --obs, --preset, --seed, --logdir, --paused, --set) starts training straight away:
dmc_cartpole_balance from pixels on the `cpu` preset by default, CUDA if torch sees one. `--open` watches a run
directory written by `dreamer-studio train --headless --logdir DIR`, or a trained model (assets/models/<name>).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

DEFAULT_TASK, DEFAULT_OBS, DEFAULT_PRESET = "dmc_cartpole_balance", "vision", "cpu"
# Flags that ask for a training run: with any of them the app trains at once instead of showing the start page.
TRAIN_FLAGS = ("--task", "--obs", "--preset", "--seed", "--logdir", "--paused", "--set")


def build_parser() -> argparse.ArgumentParser:
    from dreamer_core.config import PRESETS

    parser = argparse.ArgumentParser(
        prog="dreamer-studio", description=__doc__.split("\n\n")[2],
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="subcommands (no window):\n"
               "  dreamer-studio train --headless ...   train without the window (--help lists its flags)\n"
               "  dreamer-studio export --logdir DIR --out x.mp4   export imagined rollouts of a run as video")
    parser.add_argument("--task", default=DEFAULT_TASK,
                        help="dmc_<domain>_<task>, gym_<EnvId> or dummy_disc / dummy_cont")
    parser.add_argument("--obs", default=DEFAULT_OBS, choices=["vision", "proprio"])
    parser.add_argument("--preset", default=DEFAULT_PRESET, choices=PRESETS)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--device", default="auto", help="auto | cpu | cuda")
    parser.add_argument("--logdir", default=None,
                        help="run directory for metrics and checkpoints (default runs/studio/<task>-<time>); "
                             "an existing one is resumed")
    parser.add_argument("--open", dest="open_dir", default=None, metavar="RUN_DIR",
                        help="watch a run directory written by the headless trainer, or a trained model "
                             "(assets/models/<name>)")
    parser.add_argument("--paused", action="store_true", help="build the run but wait for Start")
    parser.add_argument("--set", nargs="*", default=[], metavar="SECTION.FIELD=VALUE", help="config overrides")
    return parser


def no_display_reason() -> str | None:
    """Why a window cannot open here (Linux without X11/Wayland and no Qt platform chosen), or None."""
    if not sys.platform.startswith("linux") or os.environ.get("QT_QPA_PLATFORM"):
        return None
    if os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"):
        return None
    return ("dreamer-studio: no display found (DISPLAY and WAYLAND_DISPLAY are unset), so the window cannot open.\n"
            "  Run it on a desktop session, under a virtual display (`xvfb-run -a dreamer-studio ...`),\n"
            "  or train without the window: `dreamer-studio train --headless --task ...`.")


def main(argv: list[str]) -> int:
    reason = no_display_reason()
    if reason:
        print(reason, file=sys.stderr)
        return 2
    from PySide6.QtWidgets import QApplication

    app = QApplication.instance() or QApplication([sys.argv[0]])
    app.setApplicationName("Dreamer Studio")
    window = launch(argv)  # noqa: F841 (kept alive until the event loop ends)
    return app.exec()


def wants_training(argv: list[str]) -> bool:
    return any(arg.split("=", 1)[0] in TRAIN_FLAGS for arg in argv)


def launch(argv: list[str]):
    """Parses the flags and opens the window: on the start page, on a run it starts, or on a directory it opens.
    Returns the window."""
    os.environ.setdefault("MUJOCO_GL", "egl")  # before dm_control is imported
    os.environ.setdefault("SDL_VIDEODRIVER", "dummy")
    train_command = bool(argv) and argv[0] == "train"  # `dreamer-studio train --task ...` without --headless
    if train_command:
        argv = argv[1:]
    args = build_parser().parse_args(argv)

    from dreamer_core import models
    from dreamer_studio.window import MainWindow

    window = MainWindow(save_on_exit=True)
    window.show()
    if args.open_dir:
        window.open_run_dir(models.locate(args.open_dir), device=args.device)  # assets/models/<name> too
        return window
    if train_command or wants_training(argv):
        start_training(window, args)
        return window
    import torch

    from dreamer_studio.start import add_start_page

    text = (f"Trains {args.task} from {'pixels' if args.obs == 'vision' else 'proprio vectors'} on the "
            f"`{args.preset}` preset, in a new run directory under runs/studio/.")
    cuda = args.device != "cpu" and torch.cuda.is_available()
    add_start_page(window, models.shipped(), text, cuda, lambda path: window.open_run_dir(path, device=args.device),
                   lambda: start_training(window, args))
    return window


def start_training(window, args: argparse.Namespace) -> None:
    """Starts the run the flags describe (a bad flag value shows a dialog and leaves the window usable)."""
    from dreamer_core.config import make_config, parse_overrides

    try:
        overrides = parse_overrides(args.set)
        overrides.setdefault("run", {}).update(seed=args.seed, device=args.device)
        config = make_config(args.task, args.obs, args.preset, overrides)
    except ValueError as exc:
        window.show_error("Cannot start the run", str(exc))
        return
    logdir = Path(args.logdir or Path("runs") / "studio" /
                  f"{args.task}-{args.obs}-{args.preset}-{time.strftime('%Y%m%d-%H%M%S')}")
    window.start_run(config, logdir=logdir, paused=args.paused)
