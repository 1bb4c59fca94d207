"""Screenshots of the app in a real X window: train ~1 min on the CPU preset, then capture each page.

    xvfb-run -a -s "-screen 0 1600x1000x24" python scripts/screenshots.py [--seconds 60]
    (or scripts/screenshots.sh, which does exactly that)

Writes docs/screenshots/*.png: the first screen (collecting), the world-model page while training, a latent edit
side by side with the unedited future, the losses page, the run page, a proprio run, and the whole X screen.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "xcb")
os.environ.setdefault("SDL_VIDEODRIVER", "dummy")


def pump(app, seconds: float) -> None:
    end = time.time() + seconds
    while time.time() < end:
        app.processEvents()
        time.sleep(0.01)


def wait_for(app, predicate, timeout: float) -> bool:
    end = time.time() + timeout
    while time.time() < end:
        if predicate():
            return True
        app.processEvents()
        time.sleep(0.01)
    return False


def shot(app, window, path: Path) -> None:
    pump(app, 0.6)  # let the GUI timer redraw the now-visible panels
    window.grab().save(str(path))
    print("wrote", path, flush=True)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=60.0, help="training time before the main shots")
    parser.add_argument("--proprio-seconds", type=float, default=20.0)
    parser.add_argument("--out", default="docs/screenshots")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (keep the machine usable)")
    args = parser.parse_args()
    if not os.environ.get("DISPLAY"):
        print("no DISPLAY: run under xvfb-run (see scripts/screenshots.sh)", file=sys.stderr)
        return 2
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)

    from PySide6.QtWidgets import QApplication

    from dreamer_core.config import make_config
    from dreamer_studio import commands as cmd
    from dreamer_studio.window import MainWindow

    app = QApplication([sys.argv[0]])
    run = {"threads": args.threads, "device": "auto"}
    config = make_config("dmc_cartpole_balance", "vision", "cpu", {"run": run})
    window = MainWindow(config, logdir=Path(tempfile.mkdtemp(prefix="studio-shots-")))
    window.resize(1600, 1000)
    window.move(0, 0)
    window.show()
    wait_for(app, lambda: "collecting the first" in window.status_label.text(), 60)
    pump(app, 2.0)
    shot(app, window, out / "01_first_screen.png")

    wait_for(app, lambda: window.worker.status.get()[1].phase == "training", 120)
    pump(app, args.seconds)
    window.send(cmd.ReportNow())
    wait_for(app, lambda: window.model.current()[0] is not None, 60)
    pump(app, 1.0)
    window.send(cmd.Pause())
    entry, result = window.model.current()
    window.model.set_t(entry.report.context_len + 5)
    shot(app, window, out / "02_world_model.png")
    subprocess.run(["import", "-window", "root", str(out / "00_x_screen.png")], check=False)
    print("wrote", out / "00_x_screen.png", flush=True)

    # Edit a few latents of the imagination's start state: flip them to their least likely class.
    probs = entry.report.latent_post[entry.report.context_len - 1]
    for s in range(0, min(32, probs.shape[0]), 4):
        window.model.edit(s, int(probs[s].argmin()))
    wait_for(app, lambda: window.model.current()[1] is not None and window.model.current()[1].edits, 30)
    pump(app, 1.0)
    shot(app, window, out / "03_latent_edit.png")

    window.tabs.setCurrentWidget(window.losses)
    shot(app, window, out / "04_losses_health.png")
    window.tabs.setCurrentWidget(window.run_panel)
    shot(app, window, out / "05_run_page.png")

    window.tabs.setCurrentIndex(0)
    window.start_run(make_config("dmc_cartpole_balance", "proprio", "cpu", {"run": run}))
    wait_for(app, lambda: window.worker.status.get()[1].phase == "training", 120)
    pump(app, args.proprio_seconds)
    window.send(cmd.ReportNow())
    wait_for(app, lambda: window.model.current()[0] is not None, 60)
    window.model.set_t(window.model.current()[0].report.context_len + 3)
    shot(app, window, out / "06_proprio.png")
    window.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
