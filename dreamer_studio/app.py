"""The desktop app: `dreamer-studio [run flags] [--open RUN_DIR] [--paused]` (flags: dreamer_studio/cli.py).

Without arguments it opens on the start page: watch a shipped trained model at once, or train one live. Any run
flag (--task, --obs, --preset, --frames, --seed, --logdir, --paused, --set, ...) starts training straight away:
dmc_cartpole_balance from pixels on the `cpu` preset by default, CUDA if torch sees one. `--open` watches a run
directory written by `dreamer-studio train --logdir DIR`, or a trained model (assets/models/<name>).
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from dreamer_studio import cli


def no_display_reason() -> str | None:
    """Why a window cannot open here (Linux without X11/Wayland and no Qt platform chosen), or None."""
    if not sys.platform.startswith("linux") or os.environ.get("QT_QPA_PLATFORM"):
        return None
    if os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"):
        return None
    return ("dreamer-studio: no display found (DISPLAY and WAYLAND_DISPLAY are unset), so the window cannot open.\n"
            "  Run it on a desktop session, under a virtual display (`xvfb-run -a dreamer-studio ...`),\n"
            "  or train without the window: `dreamer-studio train --headless --task ...`.")


def main(args: argparse.Namespace) -> int:
    """Opens the window for parsed flags (the app's, or `train --window`'s) and runs Qt's event loop."""
    reason = no_display_reason()
    if reason:
        print(reason, file=sys.stderr)
        return 2
    from PySide6.QtWidgets import QApplication

    app = QApplication.instance() or QApplication([sys.argv[0]])
    app.setApplicationName("Dreamer Studio")
    window = open_window(args)  # noqa: F841 (kept alive until the event loop ends)
    return app.exec()


def launch(argv: list[str]):
    """Parses `argv` as the command line does and opens the window (for tests and scripts). Returns the window."""
    return open_window(cli.parse_args(argv))


def open_window(args: argparse.Namespace):
    """Opens the window: on the start page, on a run it starts, or on a directory it opens. Returns the window."""
    from dreamer_core import models
    from dreamer_studio.window import MainWindow

    device = args.device or "auto"
    window = MainWindow(save_on_exit=True)
    window.show()
    if getattr(args, "open_dir", None):
        window.open_run_dir(models.locate(args.open_dir), device=device)  # assets/models/<name> too
        return window
    if args.command == "train" or cli.run_flags_given(args):
        start_training(window, args)
        return window
    import torch  # here only, to tell the start page whether CUDA is there (the rest goes through the core)

    from dreamer_studio.start import add_start_page

    text = (f"Trains {args.task} from {'pixels' if args.obs == 'vision' else 'proprio vectors'} on the "
            f"`{args.preset}` preset, in a new run directory under runs/studio/.")
    cuda = device != "cpu" and torch.cuda.is_available()
    add_start_page(window, models.shipped(), text, cuda, lambda path: window.open_run_dir(path, device=device),
                   lambda: start_training(window, args))
    return window


def start_training(window, args: argparse.Namespace) -> None:
    """Starts the run the flags describe (a bad flag value shows a dialog and leaves the window usable)."""
    from dreamer_core.logdir import STUDIO_RUNS, default_run_dir

    try:
        config = cli.config_from_args(args)
    except ValueError as exc:
        window.show_error("Cannot start the run", str(exc))
        return
    logdir = Path(args.logdir) if args.logdir else default_run_dir(config, STUDIO_RUNS)
    window.lifecycle.start(config, logdir=logdir, paused=getattr(args, "paused", False))
