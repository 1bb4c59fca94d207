"""Screenshots of the Latent map, Replay and Compare tabs: a short live run (default dummy_disc, debug preset,
trained for --seconds, a checkpoint saved after the first third), grabbed offscreen to docs/screenshots/08-10.

    QT_QPA_PLATFORM=offscreen .venv/bin/python scripts/screenshot_latent.py [--task dummy_disc --seconds 60]
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
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--outdir", default=str(ROOT / "docs" / "screenshots"))
    args = parser.parse_args()
    import torch
    from PySide6.QtWidgets import QApplication

    from dreamer_core.config import make_config
    from dreamer_studio import commands as cmd
    from dreamer_studio.window import MainWindow

    torch.set_num_threads(1)
    app = QApplication.instance() or QApplication([])
    config = make_config(args.task, args.obs, args.preset, {"run": {"device": "cpu"}})
    out = Path(args.outdir)

    def wait(cond, seconds):
        end = time.time() + seconds
        while not cond() and time.time() < end:
            app.processEvents()
            time.sleep(0.01)

    with tempfile.TemporaryDirectory() as tmp:
        win = MainWindow(config, logdir=Path(tmp) / "run", fork_root=Path(tmp) / "forks")
        win.resize(1400, 900)
        win.show()
        wait(lambda: win.worker.info is not None, 60)
        wait(lambda: False, args.seconds / 3)
        saved = Path(tmp) / "then.ckpt"
        win.send(cmd.Save(str(saved)))
        wait(saved.exists, 60)
        wait(lambda: False, 2 * args.seconds / 3)
        print(f"{win.worker.status.get()[1].updates} updates", flush=True)
        win.send(cmd.ReportNow())
        wait(lambda: False, 3)
        win.timeline.follow.setChecked(False)
        entry = win.model.current()[0]
        win.model.set_t(entry.report.context_len + 3)
        shots = []
        win.tabs.setCurrentWidget(win.latent_map)
        wait(lambda: win.latent_map.points is not None, 10)
        wait(lambda: False, 1)
        shots.append((win.grab(), out / "08_latent_map.png"))
        win.tabs.setCurrentWidget(win.replay_browser)
        wait(lambda: win.replay_browser.table.rowCount() > 0, 20)
        win.replay_browser.table.selectRow(1)
        wait(lambda: False, 1)
        shots.append((win.grab(), out / "09_replay.png"))
        win.tabs.setCurrentWidget(win.compare)
        win.compare.compare_with(str(saved))
        wait(lambda: win.model.current()[0] is not None and win.model.current()[0].id in win.compare.results, 60)
        wait(lambda: False, 1)
        shots.append((win.grab(), out / "10_compare.png"))
        for pixmap, path in shots:
            pixmap.save(str(path))
            print(f"wrote {path}", flush=True)
        win.close()
        wait(lambda: not win.isVisible(), 30)


if __name__ == "__main__":
    main()
