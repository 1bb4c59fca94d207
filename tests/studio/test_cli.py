"""The `dreamer-studio` command line (dreamer_studio/cli.py): one parser tree, one set of defaults, `train`
headless by default and Qt-free until a window opens, `--frames` with `--steps` as its old name, one-line errors."""

import json
import subprocess
import sys

import pytest

from dreamer_core.config import make_config
from dreamer_core.video import read_video
from dreamer_studio import cli
from dreamer_studio.cli import _format_score, main


def test_the_app_and_train_share_one_set_of_defaults():
    """The window's flags and `train`'s build the same run: dm_control cartpole balance from pixels, `cpu` preset."""
    window, headless = cli.config_from_args(cli.parse_args([])), cli.config_from_args(cli.parse_args(["train"]))
    assert window == headless
    assert (window.env.task, window.env.obs, window.preset, window.run.device) == (
        "dmc_cartpole_balance", "vision", "cpu", "auto")


def test_train_is_headless_unless_window_is_asked_for():
    assert not cli.parse_args(["train"]).window and not cli.parse_args(["train", "--headless"]).window
    assert cli.parse_args(["train", "--window"]).window
    assert not cli.parse_args(["train", "--window", "--headless"]).window  # the last one given wins
    assert main(["train", "--window", "--fresh", "--task", "dummy_cont"]) == 2  # --fresh needs the terminal trainer


QT_FREE_COMMANDS = """
import sys
from dreamer_studio.cli import main
logdir, video = sys.argv[1], sys.argv[2]
codes = [main(["--help"]), main(["train", "--help"]), main(["export", "--help"]),
         main(["train", "--task", "dummy_disc", "--preset", "debug", "--frames", "40", "--logdir", logdir,
               "--set", "run.replay_size=1000", "run.threads=1"]),
         main(["export", "--logdir", logdir, "--out", video, "--samples", "1"])]
qt = sorted(m for m in sys.modules if m.split(".")[0] in ("PySide6", "pyqtgraph", "pytestqt")
            or m in ("dreamer_studio.app", "dreamer_studio.window"))
print("codes", codes, "qt", qt)
"""


def test_train_export_and_help_import_no_qt(tmp_path):
    """`train` without --headless trains (in this terminal), and neither it nor `export` nor `--help` imports Qt
    or the window's code: they run on a machine without a display or Qt libraries."""
    result = subprocess.run([sys.executable, "-c", QT_FREE_COMMANDS, str(tmp_path / "run"), str(tmp_path / "x.mp4")],
                            capture_output=True, text=True, timeout=300)
    assert "codes [0, 0, 0, 0, 0] qt []" in result.stdout, result.stdout[-3000:] + result.stderr[-3000:]
    assert "40 env frames" in result.stdout  # train says what it runs
    assert (tmp_path / "x.mp4").stat().st_size > 0


def test_steps_is_the_old_name_of_frames_and_a_run_started_with_it_resumes(tmp_path, capsys):
    logdir = tmp_path / "run"
    base = ["train", "--task", "dummy_cont", "--obs", "proprio", "--preset", "debug", "--logdir", str(logdir),
            "--set", "run.log_every=0", "run.threads=1"]
    assert main(base + ["--steps", "30"]) == 0
    out = capsys.readouterr().out
    assert out.count("note: --steps is the old name of --frames") == 1 and "30 env frames" in out
    assert main(base + ["--frames", "50"]) == 0  # continues the run --steps started
    out = capsys.readouterr().out
    assert "note:" not in out and "resumed from" in out
    rows = [json.loads(line) for line in (logdir / "metrics.jsonl").read_text().splitlines()]
    assert rows[-1]["agent_steps"] == 50  # dummy tasks repeat no action: agent steps = env frames
    assert main(base + ["--frames", "60", "--steps", "60"]) == 2
    assert "pass one of them" in capsys.readouterr().err


def test_headless_train_resume_and_export(tmp_path, capsys):
    logdir = tmp_path / "run"
    args = ["train", "--headless", "--task", "dummy_disc", "--obs", "vision", "--preset", "debug",
            "--steps", "100", "--logdir", str(logdir), "--set", "run.log_every=0"]
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "updates" in out and "env steps/s" in out and "ETA" in out
    rows = [json.loads(line) for line in (logdir / "metrics.jsonl").read_text().splitlines()]
    assert rows[-1]["agent_steps"] == 100 and rows[-1]["updates"] > 0
    assert (logdir / "latest.ckpt").exists() and (logdir / "config.json").exists()
    logged = json.loads((logdir / "scores.jsonl").read_text().splitlines()[-1])["episode/score"]
    # Running the same command with more steps resumes from the checkpoint.
    assert main(args[:-4] + ["--steps", "140", "--logdir", str(logdir)]) == 0
    out = capsys.readouterr().out
    assert "resumed from" in out
    # Until a new episode ends, the progress line shows the newest score the checkpointed run logged.
    first_progress = next(line for line in out.splitlines() if line.startswith("frames"))
    assert f"last score {logged:.1f}" in first_progress
    assert _format_score(float("nan")) == "-"
    rows = [json.loads(line) for line in (logdir / "metrics.jsonl").read_text().splitlines()]
    assert rows[-1]["agent_steps"] == 140
    video = tmp_path / "rollout.mp4"
    assert main(["export", "--logdir", str(logdir), "--out", str(video), "--samples", "2"]) == 0
    frames = read_video(video)
    assert frames.shape[0] == 16 and frames.shape[2] >= 4 * 64 * 2  # truth, open loop, 2 samples at scale 2
    assert frames.std() > 1


def test_cli_errors_are_one_clear_line(tmp_path, capsys):
    assert main(["train", "--headless", "--task", "dmc_nonexistent_task", "--logdir", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "error:" in err and "Traceback" not in err and "dmc_" in err
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "config.json").write_text(make_config("dummy_cont", "vision", "debug").to_json())
    (tmp_path / "bad" / "latest.ckpt").write_bytes(b"not a checkpoint")
    assert main(["export", "--logdir", str(tmp_path / "bad"), "--out", str(tmp_path / "x.mp4")]) == 2
    err = capsys.readouterr().err
    assert "latest.ckpt" in err and "pick" in err and "Traceback" not in err




def entry_point(args: list[str], cwd) -> subprocess.CompletedProcess:
    """`python -m dreamer_studio ...`, the real command line, on one torch thread."""
    import os

    from pathlib import Path

    root = str(Path(__file__).parents[2])  # this checkout's code, whatever the venv has installed
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MUJOCO_GL": "egl", "PYTHONPATH": root}
    return subprocess.run([sys.executable, "-m", "dreamer_studio", *args], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=300)


def unwritable_dir(tmp_path):
    """An existing directory this process cannot create files in. Root passes every permission check, so as root it
    is sysfs (/sys refuses new files even to root); otherwise a folder with mode 555."""
    import os
    import tempfile
    from pathlib import Path

    if os.geteuid() == 0:
        folder = Path("/sys")
    else:
        folder = tmp_path / "read-only"
        folder.mkdir()
        folder.chmod(0o555)
    with pytest.raises(OSError):  # the premise, so the tests below cannot pass vacuously
        tempfile.TemporaryFile(dir=folder)
    return folder


def assert_one_line_error(result, *fragments) -> None:
    lines = result.stderr.strip().splitlines()
    assert result.returncode == 2 and len(lines) == 1 and lines[0].startswith("dreamer-studio: error: "), \
        result.stderr
    for fragment in fragments:
        assert fragment in lines[0], lines[0]


def test_bad_logdir_is_one_clear_line(tmp_path):
    train = ["train", "--obs", "proprio", "--task", "dummy_disc", "--preset", "debug", "--steps", "5", "--logdir"]
    (tmp_path / "afile").write_text("not a directory")
    assert_one_line_error(entry_point(train + [str(tmp_path / "afile")], tmp_path), "is a file, not a directory",
                          "--logdir")
    assert_one_line_error(entry_point(train + [str(tmp_path / "afile" / "run")], tmp_path),
                          "cannot be created", "afile is a file", "--logdir")
    locked = unwritable_dir(tmp_path)
    assert_one_line_error(entry_point(train + [str(locked)], tmp_path), "is not writable", "--logdir")
    assert_one_line_error(entry_point(train + [str(locked / "run")], tmp_path), "cannot be created", "--logdir")
    assert (tmp_path / "afile").read_text() == "not a directory"


@pytest.mark.parametrize("flag", ["--frames", "--steps"])
@pytest.mark.parametrize("steps", ["0", "-5"])
def test_steps_below_one_are_refused(tmp_path, steps, flag):
    logdir = tmp_path / "run"
    result = entry_point(["train", "--obs", "proprio", "--task", "dummy_cont", "--preset", "debug", flag, steps,
                          "--logdir", str(logdir)], tmp_path)
    assert_one_line_error(result, f"{flag} must be a positive number of env frames, got {steps}")
    assert not (logdir / "latest.ckpt").exists()


def test_export_to_an_unwritable_place_is_one_clear_line(tmp_path):
    from dreamer_core.trainer import Trainer

    config = make_config("dummy_disc", "vision", "debug", {"run": {"device": "cpu", "replay_size": 1000}})
    trainer = Trainer(config, tmp_path / "run")
    for _ in range(40):  # enough replay for a report: a real export would succeed
        trainer.step()
    trainer.save()
    trainer.close()
    export = ["export", "--logdir", str(tmp_path / "run"), "--out"]
    locked = unwritable_dir(tmp_path)
    assert_one_line_error(entry_point(export + [str(locked / "rollout.mp4")], tmp_path), "is not writable",
                          "--out")
    (tmp_path / "afile").write_text("x")
    assert_one_line_error(entry_point(export + [str(tmp_path / "afile" / "rollout.mp4")], tmp_path),
                          "afile is a file", "--out")
    (tmp_path / "folder.mp4").mkdir()
    assert_one_line_error(entry_point(export + [str(tmp_path / "folder.mp4")], tmp_path), "is a directory")


def test_train_window_trains_the_same_run_in_the_app(qtbot, tmp_path):
    from dreamer_studio.app import launch

    window = launch(["train", "--window", "--task", "dummy_cont", "--obs", "proprio", "--preset", "debug",
                     "--frames", "30", "--ratio", "8", "--device", "cpu", "--logdir", str(tmp_path / "run")])
    qtbot.addWidget(window)
    qtbot.waitUntil(lambda: window.worker.info is not None, timeout=30_000)
    config = window.worker.config
    assert (config.env.task, config.run.steps, config.run.train_ratio) == ("dummy_cont", 30, 8.0)
    window.close()
    assert (tmp_path / "run" / "config.json").is_file()


def test_train_from_model_continues_its_weights_and_counters_in_a_new_run(tmp_path_factory, tmp_path, capsys):
    import model_helpers
    from dreamer_core import checkpoint, models

    model = model_helpers.shared_debug_model(tmp_path_factory)
    shipped = models.read_model(model)
    before = {path.name: path.stat().st_mtime_ns for path in model.iterdir()}
    logdir = tmp_path / "continued"
    frames = int(shipped["counters"]["env_frames"])
    args = ["train", "--from-model", str(model), "--frames", str(frames + 60), "--logdir", str(logdir),
            "--ratio", "16", "--set", "run.log_every=0", "run.threads=1", "run.train_fill=20"]  # ~10 updates
    assert main(args) == 0
    out = capsys.readouterr().out
    assert f"started from the trained model {model / models.MODEL_FILE} at {frames:,} env frames" in out
    assert "replay starts empty" in out
    saved = checkpoint.load(logdir / "latest.ckpt", map_location="cpu")
    config = json.loads(saved["config"])
    assert config["env"]["task"] == "dummy_disc" and config["preset"] == "debug"  # the model's, not the defaults
    assert saved["counters"]["env_frames"] == frames + 60 and config["run"]["train_ratio"] == 16  # flags on top
    assert saved["agent"]["updates"] > shipped["agent"]["updates"]  # trained on from the model's updates
    rows = [json.loads(line) for line in (logdir / "metrics.jsonl").read_text().splitlines()]
    assert rows and min(row["step"] for row in rows) > frames  # the curve continues the model's
    assert {path.name: path.stat().st_mtime_ns for path in model.iterdir()} == before  # the model is never written
    from dreamer_core.logdir import read_origin

    origin = read_origin(logdir)  # the run records where it began
    assert origin["source"] == str((model / models.MODEL_FILE).resolve()) and origin["env_frames"] == frames
    assert origin["updates"] == shipped["agent"]["updates"] and "optimizer fresh" in origin["kept"]
    # The same command again resumes the run it started, not the model.
    assert main(args[:4] + [str(frames + 70)] + args[5:]) == 0
    out = capsys.readouterr().out
    assert "resumed from" in out and "--from-model starts a run only once" in out
    # In the app a model is continued from its page, not from this flag: said in one line, no window opens.
    assert main(args + ["--window"]) == 2
    assert "--open" in capsys.readouterr().err
    # A model's task is the run's: another one is refused in one line.
    assert main(args + ["--task", "dummy_cont"]) == 2
    assert "differs from the model's dummy_disc" in capsys.readouterr().err
    assert main(["train", "--from-model", str(tmp_path / "nothing"), "--logdir", str(tmp_path / "x")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "does not exist" in err
    # A run's training checkpoint is not a model (its replay and optimizer would be dropped silently): one line.
    assert main(["train", "--from-model", str(logdir / "latest.ckpt"), "--logdir", str(tmp_path / "y")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "not a model-only one" in err
    # A model-only file (a run's watch.ckpt, a model.ckpt copied elsewhere) works as well as a model directory.
    checkpoint.save(tmp_path / "snapshot.ckpt", shipped)
    branch = tmp_path / "branch"
    assert main(["train", "--from-model", str(tmp_path / "snapshot.ckpt"), "--frames", str(frames + 70),
                 "--logdir", str(branch), "--ratio", "16", "--set", "run.log_every=0", "run.threads=1",
                 "run.train_fill=20"]) == 0
    assert f"started from the trained model {tmp_path / 'snapshot.ckpt'}" in capsys.readouterr().out
    assert (branch / "latest.ckpt").is_file()
