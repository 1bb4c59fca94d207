"""Play's frame rate and per-step latency, with and without training running.

    QT_QPA_PLATFORM=offscreen python bench/play.py [--task dmc_cartpole_balance --obs vision --preset cpu
                                                    --seconds 20 --threads 2]

1. core: `DreamPlayer.step` in a plain loop (no Qt, nothing else running in this process), as fast as it goes:
   the model step alone (no real env) and with the real env beside it. Latency p50/p95/max.
2. studio: the real Play window (offscreen) on a TrainerWorker at the preset, its 15 Hz clock in Qt's event loop:
   achieved frames/s (steps shown per second), step latency (model + real env, on the play thread) and the
   request-to-screen latency (a step's request, on its tick or owed, until its frame is drawn), while the trainer trains (after it has begun
   updating), then with it paused. The trainer's updates/s are read over the same windows, and over a window
   without Play, so Play's cost to training shows.
Not a test: it takes about 3 x --seconds plus replay filling (about a minute at the cpu preset).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np

os.environ.setdefault("MUJOCO_GL", "egl")
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def pct(values, q) -> float:
    return float(np.percentile(np.asarray(values) * 1000, q)) if len(values) else float("nan")


def line(name: str, lat: list[float]) -> str:
    return f"{name}: p50 {pct(lat, 50):.1f} ms · p95 {pct(lat, 95):.1f} ms · max {pct(lat, 100):.1f} ms"


def config_from(args):
    from dreamer_core.config import make_config

    return make_config(args.task, args.obs, args.preset, {"run": {"device": "cpu", "threads": args.threads}})


def bench_core(args) -> None:
    import torch

    from dreamer_core import play
    from dreamer_core.envs import make_env

    torch.set_num_threads(args.threads)
    config = config_from(args)
    env = make_env(config.env, 0)
    agent = play.player_agent(config, env.obs_space, env.act_space)
    ctx = play.context_from_env(agent, env, 4)
    rng = np.random.default_rng(0)
    for real, name in ((None, "model only"), (env, "model + real env")):
        player = play.DreamPlayer(agent, ctx, real, seed=0)
        player.reset()
        lat, began = [], time.perf_counter()
        while time.perf_counter() - began < args.seconds / 4:
            action = rng.uniform(-1, 1, agent.act_space.shape).astype(np.float32)
            if agent.act_space.discrete:
                action = np.eye(agent.act_space.shape[0], dtype=np.float32)[rng.integers(agent.act_space.shape[0])]
            step = player.step(action)
            lat.append(step.latency)
            if len(player.steps) > 200 or step.real_last:
                player.reset()
        print(f"core, {name}: {len(lat) / (time.perf_counter() - began):.1f} steps/s unthrottled · "
              + line("latency", lat), flush=True)
    env.close()


def bench_studio(args) -> None:
    from PySide6.QtWidgets import QApplication

    from dreamer_studio import commands as cmd
    from dreamer_studio.play import PlayWindow
    from dreamer_studio.worker import TrainerWorker

    app = QApplication.instance() or QApplication([])
    worker = TrainerWorker(config_from(args))
    trained = []
    worker.training_started.connect(lambda: trained.append(time.time()))
    worker.start()
    began = time.time()
    while not trained and time.time() - began < 600:
        app.processEvents()
        time.sleep(0.01)
    if not trained:
        raise SystemExit("the trainer did not begin updating within 10 minutes")
    print(f"trainer updating after {time.time() - began:.0f} s of collecting", flush=True)

    def updates_per_s(seconds: float) -> float:
        first = worker.status.get()[1]
        t0 = time.time()
        while time.time() - t0 < seconds:
            app.processEvents()
            time.sleep(0.01)
        last = worker.status.get()[1]
        return (last.updates - first.updates) / (time.time() - t0)

    win = PlayWindow(worker)
    win.show()
    sent: list[float] = []
    shown: list[tuple[float, float, float]] = []  # (time shown, step latency, request-to-screen)
    send = win._send_step

    def timed_send() -> None:
        sent.append(time.perf_counter())
        send()

    win._send_step = timed_send  # every step request, on a tick or owed
    win.step_shown.connect(lambda t: shown.append((time.perf_counter(), win.steps[-1].latency,
                                                   time.perf_counter() - sent[-1] if sent and t else 0.0)))
    t0 = time.time()
    while len(win.steps) < 1 and time.time() - t0 < 120:
        app.processEvents()
        time.sleep(0.005)
    print(f"Play open after {time.time() - t0:.1f} s (weights at {win.thread.weights_updates} updates)", flush=True)
    # While training: Play paused and playing in turns, so drifting machine load hits both alike.
    rates: dict[str, list[float]] = {"paused": [], "playing": []}
    for phase in ("training, Play paused", "training, Play playing") * 2 + ("trainer paused, Play playing",):
        if phase.startswith("trainer paused"):
            worker.send(cmd.Pause())
            while not worker.status.get()[1].paused:
                app.processEvents()
                time.sleep(0.01)
        win.paused = phase.endswith("Play paused")
        start = len(shown)
        ups = updates_per_s(args.seconds)
        if phase.startswith("training"):
            rates["paused" if win.paused else "playing"].append(ups)
        window = shown[start + 1:]
        if win.paused:
            print(f"{phase}: trainer {ups:.3f} updates/s", flush=True)
            continue
        span = window[-1][0] - window[0][0] if len(window) > 1 else float("nan")
        fps = (len(window) - 1) / span if len(window) > 1 else 0.0
        print(f"{phase}: {fps:.1f} frames/s (target 15) over {span:.1f} s · "
              + line("step latency", [w[1] for w in window]) + " · "
              + line("request to screen", [w[2] for w in window if w[2] > 0])
              + (f" · trainer {ups:.3f} updates/s" if phase.startswith("training") else ""), flush=True)
    print(f"trainer updates/s, Play paused vs playing: {np.mean(rates['paused']):.3f} vs "
          f"{np.mean(rates['playing']):.3f}", flush=True)
    win.close()
    worker.stop_and_wait()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--task", default="dmc_cartpole_balance")
    parser.add_argument("--obs", default="vision")
    parser.add_argument("--preset", default="cpu")
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--threads", type=int, default=2, help="torch intra-op threads (the trainer's too)")
    parser.add_argument("--only", choices=("core", "studio"), default=None)
    args = parser.parse_args()
    print(f"{args.task} ({args.obs}), preset {args.preset}, {args.threads} torch threads, {os.cpu_count()} CPUs, "
          f"load average {os.getloadavg()[0]:.1f} at start", flush=True)
    if args.only in (None, "core"):
        bench_core(args)
    if args.only in (None, "studio"):
        bench_studio(args)
    print(f"load average {os.getloadavg()[0]:.1f} at the end", flush=True)


if __name__ == "__main__":
    main()
