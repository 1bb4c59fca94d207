"""scripts/plot_curve.py joins a continued run's curve to the one it continues (`train --from-model`)."""

from __future__ import annotations

import json
import subprocess
import sys

import model_helpers
from dreamer_core import checkpoint, models


def test_a_continued_runs_curve_joins_its_earlier_parts_once(tmp_path):
    plot = model_helpers.load_script("scripts/plot_curve.py")
    csv = tmp_path / "before.csv"
    csv.write_text("env_frames,return\n100,1.00\n200,2.00\n300,3.00\n")
    model = {"kind": models.KIND, "model_version": models.MODEL_VERSION, "config": "{}",
             "scores": [[200, 2.0], [300, 3.0], [400, 4.0]]}  # the model kept its run's newest episodes
    checkpoint.save(tmp_path / "model.ckpt", model)
    run = tmp_path / "continued"
    run.mkdir()
    (run / "scores.jsonl").write_text("".join(json.dumps({"step": s, "episode/score": s / 100}) + "\n"
                                              for s in (500, 600)))
    parts = [plot.earlier_rows(csv), plot.earlier_rows(tmp_path / "model.ckpt"), plot.read_rows(run / "scores.jsonl")]
    assert [(r["step"], r["episode/score"]) for r in plot.joined(parts)] == [(s, s / 100) for s in range(100, 700, 100)]
    out = subprocess.run([sys.executable, "scripts/plot_curve.py", str(run), str(tmp_path / "curve"), "--earlier",
                          str(csv), "--earlier", str(tmp_path / "model.ckpt"), "--mark", "450", "--mark-label", "x"],
                         cwd=model_helpers.ROOT, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert (tmp_path / "curve.csv").read_text().splitlines()[1:] == [f"{s},{s / 100:.2f}" for s in range(100, 700, 100)]
    assert (tmp_path / "curve.png").stat().st_size > 0
    assert "marked 450 env frames: x" in out.stdout
    from dreamer_core.logdir import write_origin

    write_origin(run, tmp_path / "shipped" / "model.ckpt", 7, 400, "weights")  # as train --from-model writes it
    out = subprocess.run([sys.executable, "scripts/plot_curve.py", str(run), str(tmp_path / "curve")],
                         cwd=model_helpers.ROOT, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert "marked 400 env frames: trained on from shipped (7 updates)" in out.stdout
