"""Side-by-side CPU throughput: our trainer vs sheeprl 0.8.4 `dreamer_v3_5` (size1m), same settings, same machine.

    bash bench/sheeprl_setup.sh                       # once: sheeprl in its own venv, outside the repo
    .venv/bin/python bench/compare_sheeprl.py [--obs proprio|vision] [--steps N] [--skip-sheeprl] [--skip-ours]
                                              [--write docs/results/benchmarks.md]

Both runs: dm_control cartpole swingup, size1m (deter 512 in 8 blocks, hidden/units 64, 32x4 latents, CNN multiplier
4, horizon 15), batch 16 x (64 + 1 replay-context step), fp32, 1 env, action repeat 2, train ratio 512 (replay ratio
0.5 updates per policy step), 2 threads, the same number of policy steps with training from the 1024th. They run one
after the other, each as its own process (so each peak RSS is its own):

* sheeprl from its venv (`$SHEEPRL_VENV`), under `/usr/bin/time -v` when present; its TensorBoard scalars
  (`Time/sps_train`, `Time/sps_env_interaction`, `Params/replay_ratio`) are read with that venv's tensorboard.
* ours as `python bench/compare_sheeprl.py --ours-only ...`, which drives `dreamer_core.trainer.Trainer` and prints JSON.

Figures are medians over windows of `--log-every` policy steps (sheeprl's `metric.log_every`), dropping the first
window (warm-up) and any partial one:
* train updates/s: gradient updates per second of time inside the training block (batch sampling and latent
  write-back included: sheeprl's `Time/sps_train`; our `Trainer.train_once` calls);
* end-to-end updates/s: updates per wall-clock second over the window (acting, training, logging: sheeprl from the
  wall times of its TensorBoard events, ours from a clock); the whole-process figure (updates / process wall time,
  start-up and the 1024 collection steps included) is given as well;
* env steps/s: env frames (policy steps x action repeat) per second of acting (policy forward + env step + replay
  insert: sheeprl's `Time/sps_env_interaction`, our `Trainer.step` minus its training);
* peak RSS: `time -v`'s maximum resident set size for sheeprl, `getrusage` of its own process for ours.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import re
import resource
import shlex
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
SHEEPRL_VERSION = "0.8.4"
DEFAULT_VENV = Path(os.environ.get("SHEEPRL_VENV", Path.home() / ".cache/dreamer-studio/sheeprl-venv"))
DEFAULT_WORKDIR = Path.home() / ".cache/dreamer-studio/sheeprl-runs"
THREADS = 2
LEARNING_STARTS = 1024
ACTION_REPEAT = 2
# Defaults sized for about 5 minutes per project on 2 cores: 1024 collection steps, then 0.5 updates per policy step.
# Proprio: 256 updates (sheeprl did ~0.95 updates/s in a smoke run here, plus ~20 s of start-up and collection).
# Vision: 48 updates (~0.2 updates/s expected, an estimate) plus ~1 min of collection (sheeprl renders 2 frames per
# policy step, with shadows).
DEFAULT_STEPS = {"proprio": 1024 + 512, "vision": 1024 + 96}
DEFAULT_LOG_EVERY = {"proprio": 32, "vision": 16}

TB_SCRIPT = r"""
import glob, json, sys
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
import os
# The newest run only (a reused --workdir holds older ones too)
files = sorted(glob.glob(sys.argv[1] + "/**/events.out.tfevents.*", recursive=True), key=os.path.getmtime)[-1:]
out = {"files": files, "scalars": {}}
for path in files:
    acc = EventAccumulator(path, size_guidance={"scalars": 0})
    acc.Reload()
    for tag in acc.Tags().get("scalars", []):
        out["scalars"].setdefault(tag, []).extend((e.step, e.value, e.wall_time) for e in acc.Scalars(tag))
print(json.dumps(out))
"""


# -- ours (runs in its own process) -----------------------------------------------------------------------------
def run_ours(obs: str, steps: int, learning_starts: int, log_every: int, seed: int, shadows: bool,
             compile_: bool = False) -> dict:
    """Drives our Trainer for `steps` policy steps; returns per-window timings and the process's peak RSS."""
    os.environ.setdefault("MUJOCO_GL", "egl")
    t_start = time.perf_counter()
    import torch

    from dreamer_core.config import make_config
    from dreamer_core.trainer import Trainer

    overrides = {
        "run": {"steps": steps, "envs": 1, "train_ratio": 512.0, "train_fill": learning_starts, "threads": THREADS,
                "device": "cpu", "seed": seed, "replay_size": 100_000, "log_every": 1e12, "report_every": 1e12,
                "save_every": 1e12, "compile": compile_},
        "train": {"batch_size": 16, "batch_length": 64, "replay_context": 1},
        # sheeprl renders nothing from proprio: no display frame here either.
        "env": {"action_repeat": ACTION_REPEAT, "log_image": False, "shadows": shadows},
    }
    config = make_config("dmc_cartpole_swingup", obs, "size1m", overrides)
    trainer = Trainer(config)  # no logdir: no files, no checkpoints
    t_built = time.perf_counter()
    train_time = 0.0

    original = trainer.train_once

    def timed_train_once():
        nonlocal train_time
        t0 = time.perf_counter()
        out = original()
        train_time += time.perf_counter() - t0
        return out

    trainer.train_once = timed_train_once  # step() looks it up on the instance
    windows = []
    w_start, w_train, w_act, w_updates, w_steps = time.perf_counter(), 0.0, 0.0, trainer.updates, 0
    while not trainer.done:
        t0 = time.perf_counter()
        before = train_time
        trainer.step()
        elapsed = time.perf_counter() - t0
        w_train += train_time - before
        w_act += elapsed - (train_time - before)
        w_steps += 1
        policy_step = trainer.counters.agent_steps
        if policy_step % log_every == 0 or trainer.done:
            now = time.perf_counter()
            windows.append({"policy_step": policy_step, "policy_steps": w_steps,
                            "updates": trainer.updates - w_updates, "train_s": w_train, "act_s": w_act,
                            "wall_s": now - w_start})
            w_start, w_train, w_act, w_updates, w_steps = now, 0.0, 0.0, trainer.updates, 0
    t_end = time.perf_counter()
    flops = peak = None
    if not compile_:  # a dispatch mode cannot see inside compiled graphs; the math is the same either way
        from torch.utils.flop_counter import FlopCounterMode

        with FlopCounterMode(display=False) as counter:
            original()
        flops = counter.get_total_flops()
        a, b = torch.randn(2048, 2048), torch.randn(2048, 2048)
        a @ b
        t0 = time.perf_counter()
        for _ in range(5):
            a @ b
        peak = 5 * 2 * 2048**3 / (time.perf_counter() - t0)
    trainer.close()
    return {
        "project": "ours", "obs": obs, "steps": steps, "learning_starts": learning_starts, "log_every": log_every,
        "updates": trainer.updates, "skipped_updates": trainer.agent.skipped_updates,
        "params": int(sum(trainer.agent.param_counts().values())),
        "windows": windows, "setup_s": t_built - t_start, "loop_s": t_end - t_built,
        "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "torch": torch.__version__, "threads": torch.get_num_threads(), "shadows": shadows,
        "compile_note": trainer.compile_note, "flops_per_update": flops, "matmul_peak_flops": peak,
    }


def summarise_ours(data: dict, log_every: int) -> dict:
    full = [w for w in data["windows"] if w["policy_steps"] == log_every]
    trained = [w for w in full if w["updates"] > 0][1:]  # drop the first training window (warm-up)
    acting = full[1:]
    return {
        "train_ups": _median([w["updates"] / w["train_s"] for w in trained]),
        "e2e_ups": _median([w["updates"] / w["wall_s"] for w in trained]),
        "env_fps": _median([w["policy_steps"] * ACTION_REPEAT / w["act_s"] for w in acting]),
        "windows_train": len(trained), "windows_env": len(acting),
    }


# -- sheeprl ----------------------------------------------------------------------------------------------------
def sheeprl_args(obs: str, steps: int, learning_starts: int, log_every: int, seed: int) -> list[str]:
    args = [
        "exp=dreamer_v3_5_dmc_walker_walk", "algo=dreamer_v3_5_1M",
        "env.wrapper.domain_name=cartpole", "env.wrapper.task_name=swingup",
    ]
    if obs == "vision":
        args += ["env.wrapper.from_pixels=True", "env.wrapper.from_vectors=False",
                 "algo.cnn_keys.encoder=[rgb]", "algo.mlp_keys.encoder=[]", "env.screen_size=64"]
    else:
        args += ["env.wrapper.from_pixels=False", "env.wrapper.from_vectors=True",
                 "algo.cnn_keys.encoder=[]", "algo.mlp_keys.encoder=[state]"]
    args += [
        "env.num_envs=1", "env.action_repeat=2", "env.capture_video=False", "algo.run_test=False",
        f"algo.total_steps={steps}", f"algo.learning_starts={learning_starts}", "algo.replay_ratio=0.5",
        "algo.per_rank_batch_size=16", "algo.per_rank_sequence_length=64", "algo.replay_context=1",
        "buffer.size=100000", "buffer.memmap=False", "checkpoint.every=0", "checkpoint.save_last=False",
        f"metric.log_every={log_every}", f"num_threads={THREADS}", f"seed={seed}",
        "fabric.accelerator=cpu", "fabric.precision=32-true",
    ]
    return args


def gl_env(gl: str) -> dict[str, str]:
    env = {"MUJOCO_GL": gl}
    if gl == "osmesa":
        env["PYOPENGL_PLATFORM"] = "osmesa"
    return env


def run_sheeprl(args: argparse.Namespace, steps: int, log_every: int, workdir: Path) -> dict:
    venv = Path(args.sheeprl_venv)
    exe = venv / "bin" / "sheeprl"
    if not exe.exists():
        raise SystemExit(f"no sheeprl at {exe}: run `bash bench/sheeprl_setup.sh` first (or pass --sheeprl-venv)")
    workdir.mkdir(parents=True, exist_ok=True)
    env_vars = {"OMP_NUM_THREADS": str(THREADS), "MKL_NUM_THREADS": str(THREADS), **gl_env(args.gl)}
    cmd = [str(exe), *sheeprl_args(args.obs, steps, args.learning_starts, log_every, args.seed)]
    time_bin = Path("/usr/bin/time")
    time_file = workdir / "time-v.txt"
    full = ([str(time_bin), "-v", "-o", str(time_file)] if time_bin.exists() else []) + cmd
    shown = (f"cd {shlex.quote(str(workdir))} && " + " ".join(f"{k}={v}" for k, v in env_vars.items()) + " "
             + " ".join(shlex.quote(c) for c in full))
    print(f"[sheeprl] {shown}", flush=True)
    log_path = workdir / "sheeprl.log"
    rusage_before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    with open(log_path, "w") as log:
        proc = subprocess.Popen(full, cwd=workdir, env={**os.environ, **env_vars}, stdout=log,
                                stderr=subprocess.STDOUT)
        try:
            rc = proc.wait(timeout=args.timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
            rc = None
    wall = time.perf_counter() - t0
    cpu = _children_cpu_s(rusage_before)
    if rc != 0:
        tail = log_path.read_text(errors="replace")[-4000:]
        print(f"[sheeprl] {'timed out' if rc is None else f'exit code {rc}'} after {wall:.0f} s; log tail:\n{tail}",
              flush=True)
    result = {"project": "sheeprl", "obs": args.obs, "steps": steps, "rc": rc, "process_wall_s": wall,
              "cpu_percent": 100 * cpu / wall,
              "command": shown, "workdir": str(workdir), "log": str(log_path)}
    if time_file.exists():
        text = time_file.read_text()
        m = re.search(r"Maximum resident set size \(kbytes\): (\d+)", text)
        result["peak_rss_mib"] = int(m.group(1)) / 1024 if m else None
    else:  # no GNU time: the largest child so far (sheeprl runs before our process is started)
        rss = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
        result["peak_rss_mib"] = rss / 1024 if rss > rusage_before.ru_maxrss else None
    tb = subprocess.run([str(venv / "bin" / "python"), "-c", TB_SCRIPT, str(workdir / "logs")], capture_output=True,
                        text=True)
    if tb.returncode != 0:
        print(f"[sheeprl] reading TensorBoard failed:\n{tb.stderr[-2000:]}", flush=True)
        result["scalars"] = {}
        return result
    parsed = json.loads(tb.stdout)
    result["event_files"] = parsed["files"]
    result["scalars"] = {k: v for k, v in parsed["scalars"].items() if k.startswith(("Time/", "Params/"))}
    return result


def summarise_sheeprl(data: dict, log_every: int) -> dict:
    scalars = data.get("scalars", {})

    def series(tag):
        return sorted(scalars.get(tag, []))

    # sps_train is logged only for windows that trained; drop the first of them (warm-up) and partial windows.
    full = {step for step, _, _ in series("Params/replay_ratio") if step % log_every == 0}
    train = [v for step, v, _ in series("Time/sps_train") if step in full][1:]
    env = [v for step, v, _ in series("Time/sps_env_interaction") if step in full][1:]
    # End-to-end per window: gradient steps (replay_ratio x policy steps) over the wall time between log events.
    ratio = series("Params/replay_ratio")
    e2e = []
    for (s0, r0, t0), (s1, r1, t1) in zip(ratio, ratio[1:]):
        updates = round(r1 * s1) - round(r0 * s0)
        if updates > 0 and s1 - s0 == log_every and t1 > t0:
            e2e.append(updates / (t1 - t0))
    total = round(ratio[-1][1] * ratio[-1][0]) if ratio else 0
    return {"train_ups": _median(train), "e2e_ups": _median(e2e[1:]), "env_fps": _median(env),
            "windows_train": len(train), "windows_env": len(env), "updates": total}


# -- report -----------------------------------------------------------------------------------------------------
def _children_cpu_s(before: resource.struct_rusage) -> float:
    """CPU seconds (user + system) of the children reaped since `before`."""
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)


def _median(values: list[float]) -> float | None:
    return statistics.median(values) if values else None


def _fmt(value: float | None, digits: int = 2) -> str:
    return "n/a" if value is None else f"{value:,.{digits}f}"


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def sheeprl_torch(venv: Path) -> str:
    out = subprocess.run([str(venv / "bin" / "python"), "-c",
                          "from importlib.metadata import version as v; print(v('torch'), v('sheeprl'))"],
                         capture_output=True, text=True)
    return out.stdout.strip() if out.returncode == 0 else "unknown"


def render(rows: dict[str, dict], args: argparse.Namespace, steps: int, log_every: int, commands: list[str],
           machine: str) -> str:
    obs = args.obs
    lines = [
        f"### Ours vs sheeprl {SHEEPRL_VERSION} `dreamer_v3_5` — size1m, {obs}",
        "",
        f"{machine}. Generated {datetime.datetime.now().strftime('%Y-%m-%d %H:%M')} by "
        f"`bench/compare_sheeprl.py`; the two runs back to back, each in its own process.",
        "",
        f"Settings (both): dm_control cartpole swingup from {obs}, size1m, batch 16 × (64 + 1 context), fp32, 1 env, "
        f"action repeat {ACTION_REPEAT}, train ratio 512 (0.5 updates per policy step), {THREADS} threads, "
        f"{steps} policy steps, training from step {args.learning_starts}. Medians over windows of {log_every} policy "
        "steps, first window dropped. Train updates/s counts time inside training (batch sampling and latent "
        "write-back included); env steps/s counts env frames (× action repeat) per second of acting (policy + env + "
        "replay insert). " + (
            "Rendering: neither renders (proprio only, no display frame)." if obs == "proprio" else
            "Rendering (64×64, EGL/OSMesa llvmpipe): sheeprl renders both repeated frames of a policy step, with "
            f"dm_control's default shadows; ours renders the last one, shadows {'on' if args.shadows else 'off'}."),
        "",
        "| project | obs | train updates/s | end-to-end updates/s | env steps/s | peak RSS MiB |",
        "|---|---|---|---|---|---|",
    ]
    for name, r in rows.items():
        lines.append(f"| {name} | {obs} | {_fmt(r.get('train_ups'))} | {_fmt(r.get('e2e_ups'))} | "
                     f"{_fmt(r.get('env_fps'), 0)} | {_fmt(r.get('peak_rss_mib'), 0)} |")
    for name in (n for n in rows if n.startswith("ours")):
        if "sheeprl" not in rows:
            break
        ratios = []
        for key in ("train_ups", "e2e_ups", "env_fps", "peak_rss_mib"):
            a, b = rows[name].get(key), rows["sheeprl"].get(key)
            ratios.append(f"{a / b:.2f}×" if a is not None and b else "n/a")
        lines.append(f"| ratio {name} / sheeprl | {obs} | " + " | ".join(ratios) + " |")
    eager = rows.get("ours", {})
    if eager.get("flops_per_update"):
        flops, peak = eager["flops_per_update"], eager["matmul_peak_flops"]
        lines += ["", f"Our FLOPs per update (torch.utils.flop_counter, matmuls and convs, forward and backward): "
                  f"{flops / 1e9:.2f} GFLOP. A 2048³ fp32 matmul runs at {peak / 1e9:.0f} GFLOP/s here. Achieved, "
                  "at the train updates/s above: " + ", ".join(
                      f"{n} {flops * r['train_ups'] / 1e9:.1f} GFLOP/s ({flops * r['train_ups'] / peak:.0%} of that)"
                      for n, r in rows.items() if r.get("train_ups")) + " (sheeprl computes the same losses on the "
                  "same sizes, so its FLOPs per update are taken to be equal)."]
    lines += ["", "Whole process (start-up and the collection steps included); CPU % is user + system time over wall "
              f"time (at most {THREADS * 100}% with {THREADS} threads; lower means waiting, or other load on the machine):",
              "", "| project | updates | process wall s | updates / process wall s | CPU % | windows (train, env) |",
              "|---|---|---|---|---|---|"]
    for name, r in rows.items():
        wall, updates = r.get("process_wall_s"), r.get("updates")
        per = updates / wall if wall and updates else None
        lines.append(f"| {name} | {updates if updates is not None else 'n/a'} | {_fmt(wall, 0)} | {_fmt(per)} | "
                     f"{_fmt(r.get('cpu_percent'), 0)} | {r.get('windows_train', 0)}, {r.get('windows_env', 0)} |")
    lines += ["", "Commands:", "", "```bash", *commands, "```"]
    return "\n".join(lines) + "\n"


def write_section(path: Path, obs: str, text: str) -> None:
    begin, end = f"<!-- compare_sheeprl:{obs} -->", f"<!-- /compare_sheeprl:{obs} -->"
    block = f"{begin}\n{text}{end}\n"
    content = path.read_text() if path.exists() else "# Benchmarks\n\n"
    if begin in content and end in content:
        head, rest = content.split(begin, 1)
        tail = rest.split(end, 1)[1]
        tail = tail.lstrip("\n")
        content = head + block + ("\n" + tail if tail else "")
    else:
        content = content.rstrip("\n") + "\n\n" + block
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(content)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--obs", default="proprio", choices=["proprio", "vision"])
    parser.add_argument("--steps", type=int, default=None,
                        help="total policy steps of each run (default: proprio 1536, vision 1120: ~5 min each)")
    parser.add_argument("--learning-starts", type=int, default=LEARNING_STARTS,
                        help="policy steps collected before training (default 1024)")
    parser.add_argument("--log-every", type=int, default=None,
                        help="window size in policy steps (default: proprio 32, vision 16)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--skip-sheeprl", action="store_true")
    parser.add_argument("--skip-ours", action="store_true")
    parser.add_argument("--write", type=Path, default=None, metavar="MD",
                        help="(re)write this run's section of a markdown file, e.g. docs/results/benchmarks.md")
    parser.add_argument("--sheeprl-venv", default=str(DEFAULT_VENV))
    parser.add_argument("--workdir", type=Path, default=None,
                        help=f"where sheeprl runs and logs (default {DEFAULT_WORKDIR}/<time>-<obs>)")
    parser.add_argument("--gl", default="osmesa" if os.environ.get("MUJOCO_GL") == "osmesa" else "egl",
                        choices=["egl", "osmesa"],
                        help="MUJOCO_GL for both runs (osmesa needs libosmesa6)")
    parser.add_argument("--shadows", action="store_true",
                        help="render our vision frames with shadows, as dm_control's default that sheeprl uses")
    parser.add_argument("--timeout", type=float, default=None, help="seconds before a run is killed")
    parser.add_argument("--ours-only", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--compile", action="store_true", help=argparse.SUPPRESS)  # used with --ours-only
    parser.add_argument("--ours-variants", nargs="+", default=["eager", "compile"], choices=["eager", "compile"],
                        help="our trainer without and/or with run.compile (the compile happens in the dropped "
                             "warm-up window; its time is in the whole-process table)")
    args = parser.parse_args()
    if args.skip_sheeprl and args.skip_ours and not args.ours_only:
        parser.error("--skip-sheeprl and --skip-ours together leave nothing to run")
    steps = args.steps or DEFAULT_STEPS[args.obs]
    log_every = args.log_every or DEFAULT_LOG_EVERY[args.obs]
    if steps <= args.learning_starts:
        print(f"note: --steps {steps} <= --learning-starts {args.learning_starts}: no training", file=sys.stderr)

    if args.ours_only:
        os.environ.update(gl_env(args.gl))
        print(json.dumps(run_ours(args.obs, steps, args.learning_starts, log_every, args.seed, args.shadows,
                                  args.compile)))
        return

    rows: dict[str, dict] = {}
    commands: list[str] = []
    raw: dict[str, dict] = {}
    if not args.skip_sheeprl:
        workdir = args.workdir or DEFAULT_WORKDIR / f"{time.strftime('%Y%m%d-%H%M%S')}-{args.obs}"
        data = run_sheeprl(args, steps, log_every, workdir)
        raw["sheeprl"] = data
        commands.append(data["command"])
        rows["sheeprl"] = {**summarise_sheeprl(data, log_every), "peak_rss_mib": data.get("peak_rss_mib"),
                           "process_wall_s": data["process_wall_s"], "cpu_percent": data["cpu_percent"]}
    for variant in ([] if args.skip_ours else args.ours_variants):
        name = "ours" if variant == "eager" else "ours --compile"
        cmd = [sys.executable, str(Path(__file__).resolve()), "--ours-only", "--obs", args.obs, "--steps", str(steps),
               "--learning-starts", str(args.learning_starts), "--log-every", str(log_every), "--seed",
               str(args.seed), "--gl", args.gl] + (["--shadows"] if args.shadows else []) + (
               ["--compile"] if variant == "compile" else [])
        env_vars = {"OMP_NUM_THREADS": str(THREADS), "MKL_NUM_THREADS": str(THREADS), **gl_env(args.gl)}
        shown = (f"cd {shlex.quote(str(REPO))} && " + " ".join(f"{k}={v}" for k, v in env_vars.items()) + " "
                 + " ".join(shlex.quote(os.path.relpath(c, REPO) if c.startswith(str(REPO)) else c) for c in cmd))
        print(f"[{name}] {shown}", flush=True)
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        t0 = time.perf_counter()
        proc = subprocess.run(cmd, cwd=REPO, env={**os.environ, **env_vars}, stdout=subprocess.PIPE, text=True,
                              timeout=args.timeout)
        wall = time.perf_counter() - t0
        cpu = _children_cpu_s(before)
        if proc.returncode != 0:
            raise SystemExit(f"[{name}] exit code {proc.returncode}")
        data = json.loads(proc.stdout.strip().splitlines()[-1])
        raw[name] = data
        commands.append(shown)
        rows[name] = {**summarise_ours(data, log_every), "peak_rss_mib": data["peak_rss_mib"],
                      "process_wall_s": wall, "cpu_percent": 100 * cpu / wall, "updates": data["updates"],
                      "flops_per_update": data.get("flops_per_update"),
                      "matmul_peak_flops": data.get("matmul_peak_flops")}

    import torch  # the project's torch, for the machine line

    versions = f"torch {torch.__version__}"
    if "sheeprl" in rows:
        versions += f" (sheeprl venv: torch/sheeprl {sheeprl_torch(Path(args.sheeprl_venv))})"
    machine = f"Machine: {cpu_model()}, {os.cpu_count()} cores, {versions}, Python {platform.python_version()}"
    text = render(rows, args, steps, log_every, commands, machine)
    print()
    print(text)
    if "sheeprl" in raw:
        summary = Path(raw["sheeprl"]["workdir"]) / "compare.json"
        summary.write_text(json.dumps({"rows": rows, "raw": raw}, indent=1))
        print(f"raw figures: {summary}")
    if args.write:
        write_section(args.write, args.obs, text)
        print(f"wrote the {args.obs} section of {args.write}")


if __name__ == "__main__":
    main()
