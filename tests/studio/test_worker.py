"""The trainer thread: lifecycle, pause / step / resume in place, imagination with latent edits."""

from __future__ import annotations

import numpy as np

from dreamer_core import checkpoint
from dreamer_studio import commands as cmd
from dreamer_studio.session import ImagineSettings

from .helpers import debug_config, fill_and_report


def test_lifecycle_signals_in_order(qtbot, make_worker):
    worker = make_worker()
    with qtbot.waitSignals([worker.ready, worker.report_ready, worker.training_started], order="strict",
                           timeout=60_000):
        worker.start()
    assert worker.info.device == "cpu" and worker.info.discrete
    qtbot.waitUntil(lambda: worker.status.get()[1].phase == "training", timeout=5_000)
    assert worker.status.get()[1].agent_steps >= worker.trainer.train_fill
    with qtbot.waitSignals([worker.stopped, worker.finished], order="strict", timeout=30_000):
        worker.request_stop()
    worker.wait()
    assert worker.status.get()[1].phase == "stopped"


def test_pause_single_step_resume(qtbot, make_worker):
    worker = make_worker(paused=True)
    with qtbot.waitSignals([worker.ready, worker.paused], order="strict", timeout=30_000):
        worker.start()
    assert worker.trainer.counters.agent_steps == 0  # paused from the start: nothing ran
    with qtbot.waitSignal(worker.stepped, timeout=10_000) as blocker:
        worker.send(cmd.Step())
    assert blocker.args == [1]  # ... nor while the Step command was on its way
    qtbot.waitUntil(lambda: worker.status.get()[1].agent_steps == 1, timeout=5_000)
    assert worker.status.get()[1].paused
    with qtbot.waitSignal(worker.resumed, timeout=10_000):
        worker.send(cmd.Resume())
    report_window = worker.config.run.report_length + worker.config.train.replay_context + 2  # replay can report
    qtbot.waitUntil(lambda: worker.status.get()[1].agent_steps > max(5, report_window), timeout=20_000)
    with qtbot.waitSignal(worker.paused, timeout=10_000):
        worker.send(cmd.Pause())
    frozen = worker.status.get()[1].agent_steps  # published before the signal
    with qtbot.waitSignal(worker.report_ready, timeout=20_000):
        worker.send(cmd.ReportNow())  # the trainer thread serves a command while paused ...
    with qtbot.waitSignal(worker.stepped, timeout=10_000) as blocker:
        worker.send(cmd.Step())
    assert blocker.args == [frozen + 1]  # ... and took no step of its own meanwhile: pause held, in place


def test_latent_edit_changes_future_and_seed_reproduces(qtbot, make_worker):
    worker = make_worker(paused=True)
    with qtbot.waitSignal(worker.ready, timeout=30_000):
        worker.start()
    report_id = fill_and_report(qtbot, worker)
    entry, _ = worker.reports.get(report_id)
    s = 0
    current = int(entry.start_stoch[s].argmax())
    edit = ((s, (current + 1) % entry.start_stoch.shape[1]),)
    settings = ImagineSettings(horizon=6, samples=2, seed=7)

    def ask(edits, request_id):
        with qtbot.waitSignal(worker.imagined, timeout=10_000):
            worker.send(cmd.Imagine(report_id, settings, edits, request_id))
        _, result = worker.reports.get(report_id)
        assert result.request_id == request_id
        return result

    first = ask(edit, 1)
    assert first.edited is not None and first.base.frames.shape == (2, 6, 64, 64, 3)
    assert not np.array_equal(first.base.frames, first.edited.frames)  # the edit changes the imagined frames
    again = ask(edit, 2)
    np.testing.assert_array_equal(again.edited.frames, first.edited.frames)  # same seed, same future
    np.testing.assert_array_equal(again.base.frames, first.base.frames)
    worker.send(cmd.Imagine(report_id, ImagineSettings(horizon=6, samples=1, seed=7, source="replayed"), (), 4))
    qtbot.waitUntil(lambda: worker.reports.get(report_id)[1].request_id == 4, timeout=10_000)
    assert worker.reports.get(report_id)[1].actions.shape == (6, 3)


def test_exception_in_worker_pauses_and_run_survives(qtbot, make_worker):
    worker = make_worker()
    with qtbot.waitSignal(worker.ready, timeout=30_000):
        worker.start()
    with qtbot.waitSignal(worker.errored, timeout=10_000) as blocker:
        worker.send(cmd.Fail("boom"))
    title, message, details = blocker.args
    qtbot.waitUntil(lambda: worker.status.get()[1].paused, timeout=5_000)
    assert "boom" in message and "RuntimeError" in details
    assert worker.status.get()[1].paused
    with qtbot.waitSignal(worker.resumed, timeout=10_000):
        worker.send(cmd.Resume())
    steps = worker.status.get()[1].agent_steps
    qtbot.waitUntil(lambda: worker.status.get()[1].agent_steps > steps + 3, timeout=20_000)


def test_a_failed_imagination_is_reported_and_training_goes_on(qtbot, make_worker):
    worker = make_worker()
    with qtbot.waitSignal(worker.report_ready, timeout=60_000) as blocker:
        worker.start()
    report_id = blocker.args[0]
    good = worker.settings
    bad = ImagineSettings(horizon=1, samples=2, seed=3)  # one step has no λ-return: the core cannot imagine it
    with qtbot.assertNotEmitted(worker.errored), qtbot.assertNotEmitted(worker.paused):
        with qtbot.waitSignal(worker.imagine_failed, timeout=10_000) as failed:
            worker.send(cmd.Imagine(report_id, bad, (), 7))
        assert failed.args[0] == 7 and failed.args[1]
        steps = worker.status.get()[1].agent_steps
        qtbot.waitUntil(lambda: worker.status.get()[1].agent_steps > steps + 3, timeout=20_000)  # not paused
        assert worker.settings == good  # the failing settings are not kept for later reports
        with qtbot.waitSignal(worker.report_ready, timeout=20_000) as made:
            worker.send(cmd.ReportNow())
    _, result = worker.reports.get(made.args[0])
    assert result.base.rewards.shape[1] == good.horizon


def test_stop_saves_latest_and_a_failed_save_keeps_the_run_alive(qtbot, make_worker, tmp_path, capsys):
    worker = make_worker(paused=True, logdir=tmp_path, save_on_exit=True)
    with qtbot.waitSignal(worker.ready, timeout=30_000):
        worker.start()
    for _ in range(5):
        worker.send(cmd.Step())  # collecting only: no update yet, but steps the user would lose
    qtbot.waitUntil(lambda: worker.status.get()[1].agent_steps == 5, timeout=10_000)
    latest = tmp_path / "latest.ckpt"
    latest.mkdir()  # a directory in the way: the checkpoint cannot replace it
    (latest / "in_the_way").write_text("x")
    with qtbot.waitSignal(worker.stop_save_failed, timeout=20_000) as failed:
        worker.request_stop()
    assert "latest.ckpt" in failed.args[0] + failed.args[1]
    assert "could not save" in capsys.readouterr().err  # also on stderr, for a window that is gone
    qtbot.waitUntil(lambda: worker.status.get()[1].paused, timeout=5_000)
    assert worker.isRunning() and worker.trainer is not None  # nothing was dropped
    (latest / "in_the_way").unlink()
    latest.rmdir()
    with qtbot.waitSignal(worker.stopped, timeout=20_000):
        worker.request_stop()
    worker.wait()
    assert latest.is_file() and worker.status.get()[1].message == f"stopped · saved {latest}"
    assert worker.restart_spec() == {"config": worker.config, "logdir": tmp_path, "resume": True}


def test_a_failed_periodic_save_pauses_and_says_what_is_kept(qtbot, make_worker, tmp_path):
    worker = make_worker(paused=True, logdir=tmp_path, config=debug_config(save_every=0.0))  # due every step
    with qtbot.waitSignal(worker.ready, timeout=30_000):
        worker.start()
    latest = tmp_path / "latest.ckpt"
    latest.mkdir()  # a directory in the way, as a full disk would be: the checkpoint cannot be written
    (latest / "in_the_way").write_text("x")
    with qtbot.waitSignal(worker.errored, timeout=20_000) as failed:
        worker.send(cmd.Resume())
    title, message, _ = failed.args
    assert title == "Could not save a checkpoint"
    assert str(latest) in message and "no earlier checkpoint of this run exists" in message
    assert "paused" in message and "free disk space" in message
    qtbot.waitUntil(lambda: worker.status.get()[1].paused, timeout=5_000)
    steps = worker.status.get()[1].agent_steps
    (latest / "in_the_way").unlink()
    latest.rmdir()
    with qtbot.waitSignal(worker.saved, timeout=20_000) as saved:
        worker.send(cmd.Resume())  # space freed: the next step saves
    assert saved.args[0] == str(latest) and latest.is_file()
    assert checkpoint.load(latest)["counters"]["agent_steps"] > steps  # the run went on from where it paused


def test_a_full_disk_in_torchs_writer_is_a_failed_save_too(qtbot, make_worker, tmp_path, monkeypatch):
    from dreamer_core.trainer import Trainer

    def full_disk(self, path=None):  # what torch.save raises when the disk fills mid-write
        raise RuntimeError("PytorchStreamWriter failed writing file data/0: file write failed")

    monkeypatch.setattr(Trainer, "save", full_disk)
    worker = make_worker(paused=True, logdir=tmp_path, config=debug_config(save_every=0.0))  # due every step
    with qtbot.waitSignal(worker.ready, timeout=30_000):
        worker.start()
    with qtbot.waitSignal(worker.errored, timeout=20_000) as failed:
        worker.send(cmd.Resume())
    title, message, _ = failed.args
    assert title == "Could not save a checkpoint" and "PytorchStreamWriter" in message
    qtbot.waitUntil(lambda: worker.status.get()[1].paused, timeout=5_000)


def test_loading_a_checkpoint_starts_rates_score_curves_and_phase_over(qtbot, make_worker, tmp_path):
    from dreamer_core.trainer import Trainer

    config = debug_config(steps=160, log_every=0.2)
    early = Trainer(config)
    while early.counters.agent_steps < 30:  # before the first episode ends (40 steps): no score yet
        early.step()
    early.save(tmp_path / "early.ckpt")
    early.close()
    worker = make_worker(config=config)
    worker.start()
    qtbot.waitUntil(lambda: worker.status.get()[1].phase == "finished", timeout=90_000)
    done = worker.status.get()[1]
    assert done.last_score is not None and done.agent_steps == 160
    qtbot.waitUntil(lambda: len(worker.metrics.snapshot()[1]) > 3, timeout=10_000)
    old_ids = worker.reports.ids()
    with qtbot.waitSignal(worker.loaded, timeout=20_000):
        worker.send(cmd.Load(str(tmp_path / "early.ckpt")))
    seen = []

    def trained_on():
        s = worker.status.get()[1]
        seen.append(s)
        return s.agent_steps >= 30 + 40 and s.phase == "training"

    qtbot.waitUntil(trained_on, timeout=60_000)  # the finished phase cleared: it trains again
    after = [s for s in seen if s.agent_steps < 70]
    assert after and all(s.last_score is None for s in after if s.agent_steps < 40)  # the checkpoint's score
    assert all(s.policy_fps >= 0 and s.update_fps >= 0 for s in seen)  # no rate across the jump back
    steps = [row["step"] for row in worker.metrics.snapshot()[1]]
    assert steps and steps == sorted(steps) and steps[0] >= 30  # the curves start over from the checkpoint
    assert not set(old_ids) & set(worker.reports.ids())  # a fresh report history


def test_watched_run_whose_checkpoint_is_corrupt_closes_its_envs(qtbot, make_worker, tmp_path):
    (tmp_path / "config.json").write_text(debug_config().to_json())
    (tmp_path / "latest.ckpt").write_bytes(b"not a checkpoint")
    worker = make_worker(watch_dir=tmp_path, device="cpu")
    with qtbot.waitSignal(worker.errored, timeout=30_000) as blocker:
        worker.start()
    assert blocker.args[0] == "Could not start the run"
    worker.wait(10_000)
    assert worker.trainer is None  # closed (envs too) on the trainer thread, not left for the GUI thread


def test_watched_metrics_start_over_when_the_trainer_resumes(qtbot, make_worker, tmp_path, monkeypatch):
    from dreamer_core.trainer import Trainer
    from dreamer_studio import run_watcher

    monkeypatch.setattr(run_watcher, "WATCH_EVERY", 0.2)
    config = debug_config(log_every=0.0)
    trainer = Trainer(config, tmp_path)
    while trainer.updates < 1:
        trainer.step()
    trainer.save()
    saved_at = trainer.counters.env_frames
    for _ in range(20):
        trainer.step()  # logged past the checkpoint: a resume drops these rows
    trainer.close()
    worker = make_worker(watch_dir=tmp_path, device="cpu")
    worker.start()
    qtbot.waitUntil(lambda: any(r["step"] > saved_at for r in worker.metrics.snapshot()[1]), timeout=30_000)
    Trainer(config, tmp_path).close()  # resumes: metrics.jsonl is rewritten, shorter, under a new inode
    qtbot.waitUntil(lambda: worker.metrics.snapshot()[1]
                    and max(r["step"] for r in worker.metrics.snapshot()[1]) <= saved_at, timeout=10_000)


def test_the_metric_curves_get_exactly_the_rows_the_trainer_logs(qtbot, make_worker, tmp_path):
    import json

    worker = make_worker(logdir=tmp_path, config=debug_config(steps=30, log_every=0.0))  # a row every step
    worker.start()
    qtbot.waitUntil(lambda: worker.status.get()[1].phase == "finished", timeout=60_000)
    worker.stop_and_wait()
    written = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    forwarded = worker.metrics.snapshot()[1]
    assert len(written) == 30 and [r["time"] for r in forwarded] == [r["time"] for r in written]  # none twice
