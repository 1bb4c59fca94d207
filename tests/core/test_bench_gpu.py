"""bench/gpu.py runs end to end (here on the CPU, at the debug preset): every figure comes out, named."""

from __future__ import annotations

import json

import torch

import model_helpers

torch.set_num_threads(1)


def test_the_gpu_benchmark_reports_its_device_precision_and_figures(tmp_path):
    bench = model_helpers.load_script("bench/gpu.py")
    out = tmp_path / "gpu.json"
    bench.main(["--device", "cpu", "--cases", "debug:proprio", "--updates", "3", "--seconds", "0.5",
                "--threads", "1", "--batch", "2", "--length", "8", "--out", str(out)])
    figures = json.loads(out.read_text())
    assert "CPU" in figures["device"] and figures["task"] == "dmc_walker_walk" and figures["batch"] == 2
    (update,), (loop,) = figures["updates"], figures["end_to_end"]
    assert update["precision"] == "float32"  # auto is fp32 on a CPU
    assert 0 < update["ms_median"] <= update["ms_p90"]
    assert update["params"] > 0 and loop["env_frames_per_s"] > 0 and loop["train_ratio"] == 64
