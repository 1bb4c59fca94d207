"""Watching a headless run before its first checkpoint: the run's live counters from metrics.jsonl (not the
0 updates of weights not loaded yet), a plain "waiting for the run's first snapshot" in the status, and a report
as soon as the run writes its watchers' snapshot (watch.ckpt), with the age of those weights."""

from __future__ import annotations

from .helpers import debug_config, wait_report


def test_watching_before_the_first_snapshot_then_a_snapshot(qtbot, make_window, tmp_path, monkeypatch):
    from dreamer_core.trainer import Trainer
    from dreamer_studio import run_watcher

    monkeypatch.setattr(run_watcher, "WATCH_EVERY", 0.2)
    trainer = Trainer(debug_config(log_every=0.0, watch_every=0.0), tmp_path)  # snapshots only when asked below
    try:
        while trainer.updates < 3:
            trainer.step()
        trainer.flush()
        assert not list(tmp_path.glob("*.ckpt"))
        window = make_window()
        window.open_run_dir(tmp_path, device="cpu")
        worker = window.worker
        status = lambda: worker.status.get()[1]  # noqa: E731
        qtbot.waitUntil(lambda: status().phase == "watching" and status().updates == trainer.updates,
                        timeout=30_000)
        assert status().env_frames == trainer.counters.env_frames > 0
        assert "waiting for the run's first snapshot" in status().message
        assert f"the run is at {trainer.updates:,} updates" in status().message
        assert "Building" not in status().message and "building" not in status().message
        # The Frames panel's placeholder follows the status (it said "Building…" for good).
        qtbot.waitUntil(lambda: "waiting for the run's first snapshot" in window.frames.placeholder.text(),
                        timeout=10_000)
        assert "Building" not in window.frames.placeholder.text()
        window.tabs.setCurrentWidget(window.run_panel)
        qtbot.waitUntil(lambda: f"{trainer.updates:,} updates" in window.run_panel.summary.text(), timeout=10_000)
        assert "watching: watching" not in window.run_panel.summary.text()
        assert "<b>watching</b> " in window.run_panel.summary.text()
        window.tabs.setCurrentWidget(window.losses)
        qtbot.waitUntil(lambda: f"{trainer.updates:,} updates" in window.losses.header.text(), timeout=10_000)
        assert not worker.reports.ids()

        for _ in range(30):  # trains on past the snapshot's weights: the counters follow the run, not the weights
            trainer.step()
        trainer.flush()
        with qtbot.waitSignal(worker.report_ready, timeout=30_000):
            trainer.save_watch()
        snapshot_updates = trainer.updates
        entry, _ = wait_report(qtbot, window)
        assert entry.report.updates == snapshot_updates
        qtbot.waitUntil(lambda: f"at {snapshot_updates:,} updates" in status().message, timeout=10_000)
        assert " s ago" in status().message and "waiting" not in status().message
        assert status().updates == trainer.updates
        assert worker.status.get()[1].checkpoints == (str(tmp_path / "watch.ckpt"),)
    finally:
        trainer.close()


def test_the_newest_weights_are_loaded_and_latest_ckpt_first(tmp_path):
    """latest.ckpt brings replay, so a changed one is loaded even when watch.ckpt is newer (and before it); an
    older watch.ckpt is never loaded over a newer latest.ckpt; an unchanged file is not loaded again."""
    import os

    from dreamer_studio.rundir import CHECKPOINT_NAME, WATCH_NAME, RunWatch

    def write(name: str, mtime: float) -> None:
        (tmp_path / name).write_bytes(b"x")
        os.utime(tmp_path / name, (mtime, mtime))

    watch = RunWatch(tmp_path)
    assert watch.due() == [] and "waiting for the run's first snapshot" in watch.message()
    write(WATCH_NAME, 100.0)
    assert watch.due() == [WATCH_NAME] and watch.due() == []
    write(CHECKPOINT_NAME, 200.0)
    assert watch.due() == [CHECKPOINT_NAME]
    write(WATCH_NAME, 150.0)  # changed, but older than latest.ckpt
    assert watch.due() == []
    write(CHECKPOINT_NAME, 300.0)
    write(WATCH_NAME, 310.0)
    assert watch.due() == [CHECKPOINT_NAME, WATCH_NAME]
    assert watch.due(force=True) == [CHECKPOINT_NAME, WATCH_NAME]
    watch.weights, watch.live = (1000.0, 812), {"updates": 900, "step": 10_000}
    assert "weights from 40 s ago, at 812 updates" in watch.message(now=1040.0)
    assert "the run is at 900 updates, 10,000 env frames" in watch.message(now=1040.0)
    assert watch.counters(812)["updates"] == 900 and watch.counters(950) == {}  # a row behind the weights: unused
