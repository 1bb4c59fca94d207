"""A screenshot of the Play window: a short live run (default dummy_disc, debug preset, trained for --seconds),
then Play with a held key for a few steps, grabbed offscreen to docs/screenshots/07_play.png.

    QT_QPA_PLATFORM=offscreen .venv/bin/python scripts/screenshot_play.py [--task dummy_disc --seconds 90]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--task", default="dummy_disc")
    parser.add_argument("--obs", default="vision")
    parser.add_argument("--preset", default="debug")
    parser.add_argument("--seconds", type=float, default=90.0)
    parser.add_argument("--out", default=str(ROOT / "docs" / "screenshots" / "07_play.png"))
    args = parser.parse_args()
    import torch
    from PySide6.QtCore import Qt
    from PySide6.QtWidgets import QApplication

    from dreamer_core.config import make_config
    from dreamer_studio.play import PlayWindow
    from dreamer_studio.theme import apply_dark
    from dreamer_studio.worker import TrainerWorker

    torch.set_num_threads(1)
    app = QApplication.instance() or QApplication([])
    apply_dark(app)
    config = make_config(args.task, args.obs, args.preset, {"run": {"device": "cpu"}})
    with tempfile.TemporaryDirectory() as tmp:
        worker = TrainerWorker(config, Path(tmp) / "run")
        worker.start()

        def wait(cond, seconds):
            end = time.time() + seconds
            while not cond() and time.time() < end:
                app.processEvents()
                time.sleep(0.01)

        wait(lambda: worker.info is not None, 60)
        began = time.time()
        wait(lambda: False, args.seconds)
        print(f"trained {time.time() - began:.0f} s: {worker.status.get()[1].updates} updates", flush=True)
        win = PlayWindow(worker)
        win.resize(1100, 640)
        win.show()
        wait(lambda: len(win.steps) >= 1, 60)
        win.keys.press(Qt.Key.Key_2)
        wait(lambda: len(win.steps) >= 12, 30)
        win.paused = True
        wait(lambda: not win.in_flight, 10)
        win._draw(win.steps[-1])
        app.processEvents()
        win.grab().save(args.out)
        print(f"wrote {args.out} at step {win.steps[-1].t}", flush=True)
        win.close()
        worker.stop_and_wait()


if __name__ == "__main__":
    main()
