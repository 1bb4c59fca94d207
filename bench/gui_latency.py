"""GUI responsiveness while training, and what the window costs in training throughput.

    python bench/gui_latency.py [--task dummy_disc --obs vision --preset debug --seconds 30 --threads 0]

1. window: the app trains in its thread, inside Qt's real event loop, while a 50 ms QTimer in the GUI thread
   measures event-loop latency (how late each tick fires: p50/p99/max), with every panel of the first tab
   redrawing live. Throughput is read from the trainer's counters over the same interval, training phase only.
2. headless: the same config stepped in a plain loop for the same time, no Qt.
Not a test: it takes 2 x --seconds plus build time. Set QT_QPA_PLATFORM=offscreen on a machine without display.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

import numpy as np

os.environ.setdefault("MUJOCO_GL", "egl")
os.environ.setdefault("SDL_VIDEODRIVER", "dummy")


PROBE_MS = 50  # the latency probe's timer period, the same as the window's own tick


def config_from(args):
    from dreamer_core.config import make_config

    return make_config(args.task, args.obs, args.preset, {"run": {"device": args.device, "threads": args.threads}})


def bench_window(args) -> dict[str, float]:
    from PySide6.QtCore import QTimer
    from PySide6.QtWidgets import QApplication

    from dreamer_studio.window import MainWindow

    app = QApplication.instance() or QApplication([])
    window = MainWindow(config_from(args))
    window.show()
    deadline = time.time() + 120
    while window.worker.status.get()[1].phase not in ("training",) and time.time() < deadline:
        app.processEvents()
        time.sleep(0.005)
    lateness: list[float] = []
    last = [time.perf_counter()]
    interval = PROBE_MS / 1000

    def tick() -> None:
        now = time.perf_counter()
        lateness.append(max(0.0, now - last[0] - interval))
        last[0] = now

    probe = QTimer()
    probe.setInterval(int(interval * 1000))
    probe.timeout.connect(tick)
    first = window.worker.status.get()[1]
    start_steps, start_updates, began = first.agent_steps, first.updates, time.time()
    renders0 = sum(p.renders for p in window.panels)
    probe.start()
    # The real event loop (as `app.exec()` in the app): it sleeps until an event or timer is due. A polling loop
    # would wake the GUI thread a thousand times a second and charge that to the Studio.
    QTimer.singleShot(int(args.seconds * 1000), app.quit)
    app.exec()
    probe.stop()
    elapsed = time.time() - began
    last_status = window.worker.status.get()[1]
    steps, updates = last_status.agent_steps - start_steps, last_status.updates - start_updates
    renders = sum(p.renders for p in window.panels) - renders0
    window.close()
    ms = np.asarray(lateness) * 1000
    return {"env steps/s": steps / elapsed, "updates/s": updates / elapsed, "latency p50 ms": np.percentile(ms, 50),
            "latency p99 ms": np.percentile(ms, 99), "latency max ms": ms.max(), "panel redraws/s": renders / elapsed}


def bench_headless(args) -> dict[str, float]:
    from dreamer_core.trainer import Trainer

    tr = Trainer(config_from(args))
    while tr.replay.steps < tr.train_fill:
        tr.step()
    start_steps, start_updates, began = tr.counters.agent_steps, tr.updates, time.time()
    while time.time() - began < args.seconds:
        tr.step()
    elapsed = time.time() - began
    out = {"env steps/s": (tr.counters.agent_steps - start_steps) / elapsed,
           "updates/s": (tr.updates - start_updates) / elapsed}
    tr.close()
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--task", default="dummy_disc")
    parser.add_argument("--obs", default="vision")
    parser.add_argument("--preset", default="debug")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    parser.add_argument("--seconds", type=float, default=30.0)
    args = parser.parse_args(argv)
    window = bench_window(args)
    headless = bench_headless(args)
    print(f"{args.task} ({args.obs}), preset {args.preset}, {args.seconds:g} s each, training phase only")
    for key, value in window.items():
        print(f"  window   {key:<16} {value:10.2f}")
    for key, value in headless.items():
        print(f"  headless {key:<16} {value:10.2f}")
    for key in ("env steps/s", "updates/s"):
        if headless[key]:
            print(f"  window/headless {key}: {window[key] / headless[key]:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
