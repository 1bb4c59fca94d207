"""Soak: the app training its default task in a real window for a long time, memory and threads sampled.

    Xvfb :95 -screen 0 1600x1000x24 &
    DISPLAY=:95 python scripts/soak.py --minutes 60 --out docs/results/soak [-- <app flags, e.g. --set run.threads=1>]

Opens the real `MainWindow` as `dreamer-studio --task dmc_cartpole_balance` does (the default task: cartpole balance
from pixels, preset cpu), and every `--every` seconds records the process's resident memory (VmRSS), its OS
threads (/proc/self/task), Python threads, QThreads still running, updates and env frames. After `--minutes` it
closes the window the way a user does (saving on exit), lets the event loop end, and records the threads left.
Writes <out>.csv and <out>.png and prints a summary. Not a test: it takes as long as it is told to.
"""

from __future__ import annotations

import argparse
import csv
import os
import sys
import threading
import time
from pathlib import Path


def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def os_threads() -> int:
    return len(os.listdir("/proc/self/task"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--minutes", type=float, default=60.0)
    parser.add_argument("--every", type=float, default=60.0, help="seconds between samples")
    parser.add_argument("--out", type=Path, default=Path("docs/results/soak"))
    parser.add_argument("--logdir", type=Path, default=Path("runs/soak"))
    parser.add_argument("app_args", nargs="*", help="extra app flags after --")
    args = parser.parse_args()
    from PySide6.QtCore import QTimer
    from PySide6.QtWidgets import QApplication

    from dreamer_studio.app import launch

    app = QApplication.instance() or QApplication([sys.argv[0]])
    window = launch(["--task", "dmc_cartpole_balance", "--logdir", str(args.logdir)]
                    + list(args.app_args))
    start = time.time()
    rows: list[dict] = []

    def sample(note: str = "") -> None:
        status = window.worker.status.get()[1] if window.worker is not None else None
        rows.append({"minute": round((time.time() - start) / 60, 2), "rss_mb": round(rss_mb(), 1),
                     "os_threads": os_threads(), "py_threads": threading.active_count(),
                     "updates": getattr(status, "updates", 0), "env_frames": getattr(status, "env_frames", 0),
                     "note": note})
        print(rows[-1], flush=True)

    def finish() -> None:
        sample("before close")
        window.close()

    timer = QTimer()
    timer.timeout.connect(sample)
    timer.start(int(args.every * 1000))
    QTimer.singleShot(int(args.minutes * 60_000), finish)
    sample("start")
    app.exec()
    timer.stop()
    time.sleep(2)  # threads that end after the loop (the save on exit) get a moment to go
    rows.append({"minute": round((time.time() - start) / 60, 2), "rss_mb": round(rss_mb(), 1),
                 "os_threads": os_threads(), "py_threads": threading.active_count(), "updates": rows[-1]["updates"],
                 "env_frames": rows[-1]["env_frames"], "note": "after the event loop ended"})
    print(rows[-1], flush=True)
    names = sorted(t.name for t in threading.enumerate())
    print("python threads left:", names)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    with open(args.out.with_suffix(".csv"), "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    minutes = [r["minute"] for r in rows]
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(7, 5), dpi=110, sharex=True)
    top.plot(minutes, [r["rss_mb"] for r in rows], "o-", ms=3)
    top.set_ylabel("resident memory (MB)")
    top.set_ylim(bottom=0)
    bottom.plot(minutes, [r["os_threads"] for r in rows], "o-", ms=3, label="OS threads")
    bottom.plot(minutes, [r["py_threads"] for r in rows], "s-", ms=3, label="Python threads")
    bottom.set_ylabel("threads")
    bottom.set_xlabel("minutes")
    bottom.set_ylim(bottom=0)
    bottom.legend(fontsize=8)
    top.set_title(f"Soak: the app training its default task for {args.minutes:g} min", fontsize=9)
    fig.tight_layout()
    fig.savefig(args.out.with_suffix(".png"))
    print(f"wrote {args.out.with_suffix('.csv')} and .png")


if __name__ == "__main__":
    main()
