"""Screenshots of every view of Dreamer Studio in a real X window, written to docs/screenshots/.

    scripts/screenshots.sh [--only trained proprio ...]   (starts Xvfb and runs this script)
    DISPLAY=:93 QT_QPA_PLATFORM=xcb .venv/bin/python scripts/screenshots.py [--only ...]

Scenes, each in a window of its own (the pictures are grabbed from the X screen with ImageMagick's `import`, so
they show what a user's window shows, not an offscreen render):
- start: `dreamer-studio` without arguments, the start page (01_first_screen).
- trained: the newest model-only snapshot of a pixel run (--run, default the size1m cartpole run) copied with its
  config and metrics into a temporary run directory and opened as `dreamer-studio --open DIR` does: the world
  model (02), a latent edit (03), losses & health with the official band (04), the run page (05), Play (07), the
  latent map (08), compare with an older snapshot (10), the sweep (12), the whole X screen with Play over the
  window (00). Nothing is written into the run or its snapshots.
- collecting: a live `cpu`-preset pixel run at its first screen (13_collecting).
- proprio: a live `cpu`-preset proprio run after --proprio-seconds of training (06), and its replay (09).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "xcb")
os.environ.setdefault("SDL_VIDEODRIVER", "dummy")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
SCREEN = (1600, 1000)  # the Xvfb screen that screenshots.sh starts; the main window fills it
MAX_BYTES = 300_000  # a PNG over this is written again with a 256-colour palette
DEFAULT_RUN = ROOT / "runs" / "cartpole_balance_vision_size1m_ratio256"


class Shooter:
    """Pumps the Qt event loop and grabs windows off the X screen."""

    def __init__(self, app, out: Path) -> None:
        self.app, self.out = app, out
        self.written: list[Path] = []

    def pump(self, seconds: float) -> None:
        end = time.time() + seconds
        while time.time() < end:
            self.app.processEvents()
            time.sleep(0.01)

    def wait_for(self, what: str, predicate, timeout: float, required: bool = True) -> bool:
        """Pumps events until `predicate()`; past `timeout` raises (a shot of the wrong state would mislead)
        unless not `required`."""
        end = time.time() + timeout
        while time.time() < end:
            if predicate():
                return True
            self.app.processEvents()
            time.sleep(0.02)
        if required:
            raise TimeoutError(f"gave up waiting for {what} after {timeout:.0f} s")
        print(f"  (went on after waiting {timeout:.0f} s for {what})", flush=True)
        return False

    def settle(self, window, seconds: float = 1.0) -> None:
        """Lets the GUI timer draw the visible panels (a window without `up_to_date`, such as Play, just waits)."""
        self.pump(seconds)
        if hasattr(window, "up_to_date"):
            self.wait_for("the panels to be drawn", window.up_to_date, 10, required=False)
        self.pump(0.3)

    def shot(self, window, name: str, whole_screen: bool = False, settle_seconds: float = 1.0) -> Path:
        """Grabs `window`'s area of the X screen (all of it with `whole_screen`) into OUT/name."""
        self.settle(window, settle_seconds)
        path = self.out / name
        crop = [] if whole_screen else ["-crop", self._geometry(window), "+repage"]
        subprocess.run(["import", "-window", "root", *crop, str(path)], check=True)
        if path.stat().st_size > MAX_BYTES:
            subprocess.run(["convert", str(path), "-dither", "None", "-colors", "256", f"PNG8:{path}"], check=True)
        print(f"wrote {path} ({path.stat().st_size // 1000} KB)", flush=True)
        self.written.append(path)
        return path

    @staticmethod
    def _geometry(window) -> str:
        frame = window.frameGeometry()
        return f"{frame.width()}x{frame.height()}+{max(frame.x(), 0)}+{max(frame.y(), 0)}"


def show_full_screen(window) -> None:
    window.resize(*SCREEN)
    window.move(0, 0)
    window.show()


def close(shooter: Shooter, window) -> None:
    window.close()
    shooter.wait_for("the window to close", lambda: not window.isVisible(), 120)
    shooter.pump(0.5)


def show_tab(window, title: str) -> None:
    titles = [window.tabs.tabText(i).replace("&&", "&") for i in range(window.tabs.count())]
    window.tabs.setCurrentIndex(titles.index(title))


def status(window):
    worker = window.worker
    return worker.status.get()[1] if worker is not None else None


def has_report(window) -> bool:
    entry, result = window.model.current()
    return entry is not None and result is not None


# -- scenes ------------------------------------------------------------------------------------------------------
def scene_start(shooter: Shooter, args) -> None:
    from dreamer_studio.app import launch

    window = launch([])
    show_full_screen(window)
    shooter.shot(window, "01_first_screen.png")
    close(shooter, window)


def copy_run(run: Path, snapshot: Path, into: Path) -> Path:
    """A run directory of our own: the run's config, metrics and scores, and `snapshot` as its watch.ckpt."""
    from dreamer_core.checkpoint import WATCH_NAME

    into.mkdir(parents=True)
    for name in ("config.json", "metrics.jsonl", "scores.jsonl"):
        if (run / name).is_file():
            shutil.copy2(run / name, into / name)
    shutil.copy2(snapshot, into / WATCH_NAME)
    return into


def snapshots_of(run: Path) -> list[Path]:
    folder = run.parent / f"{run.name}_snapshots"
    return sorted(folder.glob("u*.ckpt"))  # u0002625.ckpt: zero-padded updates, so sorted by name is by age


def scene_trained(shooter: Shooter, args) -> None:
    import numpy as np
    from PySide6.QtCore import Qt

    from dreamer_studio.app import launch
    from dreamer_studio.play import open_play

    run = Path(args.run)
    snapshots = snapshots_of(run)
    if len(snapshots) < 2:
        raise SystemExit(f"{run}: needs two model-only snapshots in {run.name}_snapshots/ (newest and an older one)")
    newest, older = snapshots[-1], snapshots[len(snapshots) // 3]
    tmp = Path(tempfile.mkdtemp(prefix="studio-shots-"))
    watched = copy_run(run, newest, tmp / run.name)
    print(f"trained: watching {newest.name} of {run} (copied to {watched}); compare with {older.name}", flush=True)
    window = launch(["--open", str(watched)])
    show_full_screen(window)
    began = time.time()
    shooter.wait_for("the first report", lambda: has_report(window), 600)
    print(f"  first report after {time.time() - began:.0f} s", flush=True)
    model = window.model
    entry = model.current()[0]
    context = entry.report.context_len
    model.set_follow(False)
    model.set_t(context + 5)  # a dreamed step: the imagination and its confidence strip past the context
    shooter.shot(window, "02_world_model.png")

    # Every latent of the start state set to its least likely posterior class (never its own: that undoes an edit).
    probs = entry.report.latent_post[context - 1].copy()  # (S, C) posterior where imagination starts
    probs[np.arange(len(probs)), entry.start_stoch.argmax(-1)] = np.inf  # start_stoch: (S, C) one-hot
    for s in range(len(probs)):
        model.edit(s, int(probs[s].argmin()))
    shooter.wait_for("the edited imagination", lambda: model.current()[1] is not None
                     and model.current()[1].edited is not None, 120)
    shooter.shot(window, "03_latent_edit.png")
    model.reset_edits()
    shooter.wait_for("the unedited imagination", lambda: model.current()[1] is not None
                     and model.current()[1].edited is None, 120)

    window.tabs.setCurrentWidget(window.losses)
    shooter.shot(window, "04_losses_health.png")
    window.tabs.setCurrentWidget(window.run_panel)
    shooter.shot(window, "05_run_page.png")
    window.tabs.setCurrentWidget(window.latent_map)
    shooter.wait_for("the latent map", lambda: window.latent_map.points is not None, 60)
    shooter.shot(window, "08_latent_map.png")
    window.tabs.setCurrentWidget(window.sweep)
    shooter.wait_for("the sweep", lambda: window.sweep.result is not None, 300)
    shooter.shot(window, "12_sweep.png")
    window.tabs.setCurrentWidget(window.compare)
    window.compare.compare_with(str(older))
    shooter.wait_for("the compared model's report", lambda: model.current()[0].id in window.compare.results, 300)
    shooter.shot(window, "10_compare.png")

    show_tab(window, "World model")  # under Play in the whole-screen shot
    play = open_play(window)
    play.move(250, 150)
    shooter.wait_for("Play's first step", lambda: len(play.steps) >= 1, 300)
    play.keys.press(Qt.Key.Key_Up)  # push the cart's one action dimension to +1 and hold it
    shooter.wait_for("30 dream steps", lambda: len(play.steps) >= 30, 120)
    play.keys.release(Qt.Key.Key_Up)
    play.toggle_pause()
    shooter.wait_for("the last step", lambda: not play.in_flight, 30)
    shooter.shot(play, "07_play.png")
    shooter.shot(window, "00_x_screen.png", whole_screen=True)
    play.close()
    close(shooter, window)
    shutil.rmtree(tmp, ignore_errors=True)


def live_window(config, tmp: Path):
    from dreamer_studio.window import MainWindow

    window = MainWindow(config, logdir=tmp / "run", save_on_exit=False, fork_root=tmp / "forks")
    show_full_screen(window)
    return window


def scene_collecting(shooter: Shooter, args) -> None:
    from dreamer_core.config import make_config

    for attempt in range(5):  # the cpu preset collects for 1-3 s only: again until the shot shows it
        tmp = Path(tempfile.mkdtemp(prefix="studio-shots-"))
        window = live_window(make_config("dmc_cartpole_balance", "vision", "cpu", {"run": {"threads": 1}}), tmp)
        collecting = lambda: "collecting the first" in window.status_label.text()  # noqa: E731
        shooter.wait_for("collecting", collecting, 120)
        shooter.shot(window, "13_collecting.png", settle_seconds=0.1)
        caught = collecting()
        close(shooter, window)
        shutil.rmtree(tmp, ignore_errors=True)
        if caught:
            return
        print(f"  the run was past collecting at attempt {attempt + 1}: again", flush=True)
    raise TimeoutError("never caught the run collecting")


def scene_proprio(shooter: Shooter, args) -> None:
    from dreamer_core.config import make_config
    from dreamer_studio import commands as cmd

    tmp = Path(tempfile.mkdtemp(prefix="studio-shots-"))
    window = live_window(make_config("dmc_cartpole_balance", "proprio", "cpu", {"run": {"threads": 1}}), tmp)
    shooter.wait_for("training", lambda: getattr(status(window), "phase", None) == "training", 300)
    shooter.pump(args.proprio_seconds)
    before = window.model.report_ids
    window.send(cmd.ReportNow())
    shooter.wait_for("a report of now", lambda: window.model.report_ids[-1:] != before[-1:] and has_report(window), 120)
    window.send(cmd.Pause())
    entry = window.model.current()[0]
    window.model.set_follow(False)
    window.model.set_t(entry.report.context_len + 5)
    shooter.shot(window, "06_proprio.png")
    window.tabs.setCurrentWidget(window.replay_browser)  # a live run's replay holds ended episodes
    shooter.wait_for("the replay table", lambda: window.replay_browser.table.rowCount() > 1, 60)
    window.replay_browser.table.selectRow(1)
    shooter.shot(window, "09_replay.png")
    close(shooter, window)
    shutil.rmtree(tmp, ignore_errors=True)


SCENES = {"start": scene_start, "trained": scene_trained, "collecting": scene_collecting, "proprio": scene_proprio}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", nargs="*", choices=sorted(SCENES), help="scenes to take (default: all)")
    parser.add_argument("--run", default=str(DEFAULT_RUN), help="pixel run whose newest snapshot is watched")
    parser.add_argument("--proprio-seconds", type=float, default=90.0, help="training before the proprio shot")
    parser.add_argument("--out", default=str(ROOT / "docs" / "screenshots"))
    args = parser.parse_args()
    if not os.environ.get("DISPLAY") or os.environ["QT_QPA_PLATFORM"] != "xcb":
        print("needs an X display and QT_QPA_PLATFORM=xcb: run scripts/screenshots.sh", file=sys.stderr)
        return 2
    import torch
    from PySide6.QtWidgets import QApplication

    torch.set_num_threads(1)  # the machine keeps a core for whatever else trains
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    shooter = Shooter(QApplication.instance() or QApplication([sys.argv[0]]), out)
    for name in args.only or list(SCENES):
        began = time.time()
        print(f"scene {name}", flush=True)
        SCENES[name](shooter, args)
        print(f"scene {name}: {time.time() - began:.0f} s", flush=True)
    print(json.dumps([str(p.relative_to(ROOT)) if p.is_relative_to(ROOT) else str(p) for p in shooter.written]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
