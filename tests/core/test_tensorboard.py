"""run.tensorboard: event files beside metrics.jsonl with the same scalars, the report's open-loop grid and the
config; tensorboard stays an optional extra (the core imports and trains without it)."""

import io
import json
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from dreamer_core.config import make_config
from dreamer_core.trainer import Trainer
from dreamer_core.tensorboard_log import BORDER, CONFIG_TAG, IMAGE_TAG, openloop_grid
from dreamer_core.video import CONTEXT, IMAGINED
from dreamer_studio.cli import main

ROOT = Path(__file__).parents[2]


def read_events(logdir: Path):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    acc = EventAccumulator(str(logdir), size_guidance={"scalars": 0, "images": 0, "tensors": 0})
    acc.Reload()
    return acc


def test_events_hold_the_metrics_rows_the_report_grid_and_the_config(tmp_path):
    overrides = {"run": {"tensorboard": True, "log_every": 0.0, "report_every": 0.0, "threads": 1}}
    config = make_config("dummy_cont", "vision", "debug", overrides)
    trainer = Trainer(config, tmp_path)
    try:
        for _ in range(70):  # past train_fill (64 agent steps), so train/ scalars are logged too
            trainer.step()
        trainer.flush()
    finally:
        trainer.close()
    assert list(tmp_path.glob("events.out.tfevents.*"))
    rows = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    acc = read_events(tmp_path)

    keys = {k for row in rows for k in row} - {"step", "time"}  # step and time place the events
    assert set(acc.Tags()["scalars"]) == keys
    assert {"train/loss/rec/image", "train/loss_total", "fps/updates", "replay/steps"} <= keys
    for key in keys:
        events = acc.Scalars(key)
        expected = [(row["step"], row[key], row["time"]) for row in rows if key in row]
        assert [e.step for e in events] == [s for s, _, _ in expected], key
        # TensorBoard keeps float32 scalars: the same values to float32 rounding (NaN equals NaN).
        np.testing.assert_array_equal(np.float32([e.value for e in events]), np.float32([v for _, v, _ in expected]))
        assert [e.wall_time for e in events] == pytest.approx([t for _, _, t in expected], abs=1e-3)

    images = acc.Images(IMAGE_TAG)
    assert images, acc.Tags()
    from PIL import Image

    grid = np.asarray(Image.open(io.BytesIO(images[-1].encoded_image_string)).convert("RGB"))
    length, size, b = config.run.report_length, config.env.size, BORDER
    assert grid.shape == (3 * (size + 2 * b), length * (size + 2 * b), 3)
    assert (grid[0, 0] == CONTEXT).all() and (grid[0, -1] == IMAGINED).all()  # context first, imagination last
    assert images[-1].step <= rows[-1]["step"]

    (text,) = acc.Tensors(f"{CONFIG_TAG}/text_summary")
    from tensorboard.util import tensor_util

    markdown = tensor_util.make_ndarray(text.tensor_proto).item().decode()
    assert json.loads("\n".join(line[4:] for line in markdown.splitlines())) == config.to_dict()


def test_a_resume_hides_the_events_past_its_checkpoint_as_metrics_jsonl_drops_its_rows(tmp_path):
    config = make_config("dummy_cont", "proprio", "debug",
                         {"run": {"tensorboard": True, "log_every": 0.0, "threads": 1}})
    first = Trainer(config, tmp_path)
    for _ in range(6):
        first.step()
    first.save()
    saved = first.counters.env_frames
    for _ in range(4):  # logged, then lost: the run stops without saving
        first.step()
    first.close()
    resumed = Trainer(config, tmp_path)
    assert resumed.counters.env_frames == saved
    for _ in range(3):
        resumed.step()
    resumed.flush()
    resumed.close()
    rows = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    events = read_events(tmp_path).Scalars("agent_steps")
    assert [(e.step, e.value) for e in events] == [(r["step"], r["agent_steps"]) for r in rows]
    assert any(r["step"] == saved for r in rows) and max(r["step"] for r in rows) > saved


def test_openloop_grid_rows_are_real_decoded_and_open_loop():
    length, ctx, h, w = 6, 3, 4, 5
    frames = lambda base, n: np.stack([np.full((h, w, 3), base + t, np.uint8) for t in range(n)])  # noqa: E731
    report = SimpleNamespace(real=frames(10, length), decoded=frames(100, length), openloop=frames(200, length - ctx),
                             context_len=ctx)
    grid = openloop_grid(report)
    b = BORDER
    cell = lambda row, col: grid[row * (h + 2 * b) + b, col * (w + 2 * b) + b]  # noqa: E731  (a frame's pixel)
    assert grid.shape == (3 * (h + 2 * b), length * (w + 2 * b), 3)
    assert [cell(0, t)[0] for t in range(length)] == [10 + t for t in range(length)]
    assert [cell(1, t)[0] for t in range(length)] == [100 + t for t in range(length)]
    assert [cell(2, t)[0] for t in range(length)] == [100, 101, 102, 200, 201, 202]  # decoded context, then imagined
    assert (grid[0, (ctx - 1) * (w + 2 * b)] == CONTEXT).all() and (grid[0, ctx * (w + 2 * b)] == IMAGINED).all()
    assert openloop_grid(SimpleNamespace(real=report.real, decoded=None, openloop=None, context_len=ctx)) is None


def test_tensorboard_is_off_by_default(tmp_path):
    config = make_config("dummy_cont", "proprio", "debug", {"run": {"log_every": 0.0}})
    assert config.run.tensorboard is False
    trainer = Trainer(config, tmp_path)
    trainer.step()
    trainer.flush()
    trainer.close()
    assert (tmp_path / "metrics.jsonl").exists() and not list(tmp_path.glob("events.out.tfevents.*"))


def test_without_tensorboard_installed_the_error_is_one_line_with_the_pip_command(tmp_path, monkeypatch, capsys):
    for name in ("tensorboard", "torch.utils.tensorboard"):
        monkeypatch.setitem(sys.modules, name, None)  # `import tensorboard` now raises ImportError
    config = make_config("dummy_cont", "proprio", "debug", {"run": {"tensorboard": True}})
    with pytest.raises(ValueError, match=r"^run.tensorboard=true needs the tensorboard package.*pip install "
                                         r"'tensorboard>=2.14'") as info:
        Trainer(config, tmp_path)
    assert "\n" not in str(info.value)
    args = ["train", "--obs", "proprio", "--task", "dummy_cont", "--preset", "debug", "--steps", "20",
            "--logdir", str(tmp_path / "cli"), "--set", "run.tensorboard=true"]
    assert main(args) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "pip install 'tensorboard>=2.14'" in err


def test_the_core_imports_and_trains_without_tensorboard(tmp_path):
    code = ("import sys\n"
            "sys.modules['tensorboard'] = sys.modules['torch.utils.tensorboard'] = None  # as if not installed\n"
            "import dreamer_studio.cli, dreamer_core.tensorboard_log\n"
            "from dreamer_core.config import make_config\n"
            "from dreamer_core.trainer import Trainer\n"
            f"t = Trainer(make_config('dummy_cont', 'proprio', 'debug'), {str(tmp_path)!r})\n"
            "t.step(); t.flush(); t.close(); print('ok')\n")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0 and out.stdout.strip() == "ok", out.stderr
