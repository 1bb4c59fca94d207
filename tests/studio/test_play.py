"""Play inside the dream (dreamer_studio.play): held keys step the real debug model, with a real env beside it."""

from __future__ import annotations

import numpy as np
import pytest
from PySide6.QtCore import Qt

from dreamer_core import play as core_play
from dreamer_core import video
from dreamer_studio.play import PUSH, PlayWindow

from .helpers import debug_config, fill_and_report, report_now


@pytest.fixture
def open_play(qtbot, make_worker):
    """A Play window on a paused debug run that holds a report; closed (its thread joined) at the end."""
    windows = []

    def factory(task="dummy_disc", obs="vision", manual=False):
        worker = make_worker(task, obs, paused=True)
        worker.start()
        qtbot.waitUntil(lambda: worker.info is not None, timeout=30_000)
        fill_and_report(qtbot, worker)
        win = PlayWindow(worker)
        qtbot.addWidget(win)
        windows.append(win)
        if manual:
            win.timer.stop()  # the test ticks the clock itself, one exact step per tick
        win.show()
        qtbot.waitUntil(lambda: len(win.steps) >= 1, timeout=30_000)  # step 0: the real context
        return win

    yield factory
    for win in windows:
        win.close()


def _tick(qtbot, win):
    """One clock tick that steps, and its answer."""
    before = len(win.steps)
    win.tick()
    qtbot.waitUntil(lambda: len(win.steps) == before + 1 and not win.in_flight, timeout=10_000)
    return win.steps[-1]


def _hold(qtbot, win, key):
    qtbot.keyPress(win, key)


def _release(qtbot, win, key):
    qtbot.keyRelease(win, key)


def test_held_keys_on_the_timer_give_the_expected_action_sequence(qtbot, open_play):
    win = open_play("dummy_disc", manual=True)  # the clock is stopped: no step goes out before the key is held
    qtbot.keyClick(win, Qt.Key.Key_Space)  # pause
    assert win.paused
    _hold(qtbot, win, Qt.Key.Key_2)
    win.timer.start()
    qtbot.keyClick(win, Qt.Key.Key_Space)  # and go, on the window's own 15 Hz clock
    qtbot.waitUntil(lambda: len(win.steps) >= 5, timeout=20_000)
    _release(qtbot, win, Qt.Key.Key_2)
    _hold(qtbot, win, Qt.Key.Key_Right)  # arrows pick discrete actions too (→ is action 2)
    _hold(qtbot, win, Qt.Key.Key_3)  # the newest key wins: action 3
    n = len(win.steps)
    qtbot.waitUntil(lambda: len(win.steps) >= n + 4, timeout=20_000)
    qtbot.keyClick(win, Qt.Key.Key_Space)
    qtbot.waitUntil(lambda: not win.in_flight, timeout=10_000)
    chosen = [int(s.action.argmax()) for s in win.steps[1:]]
    switch = chosen.index(2)
    assert switch >= 4 and chosen[:switch] == [1] * switch and chosen[switch:] == [2] * (len(chosen) - switch)
    assert [s.t for s in win.steps] == list(range(len(win.steps)))
    assert all(np.array_equal(s.action, np.eye(3, dtype=np.float32)[c]) for s, c in zip(win.steps[1:], chosen))
    assert "action 3 of 3" in win.readout.text()
    for key in (Qt.Key.Key_Right, Qt.Key.Key_3):
        _release(qtbot, win, key)
    assert win.keys.action().argmax() == 0  # nothing held: action 1


def test_continuous_keys_choose_a_dimension_and_push_it(qtbot, open_play):
    win = open_play("dummy_cont", manual=True)
    _hold(qtbot, win, Qt.Key.Key_Up)
    got = [_tick(qtbot, win).action for _ in range(3)]
    _release(qtbot, win, Qt.Key.Key_Up)
    qtbot.keyClick(win, Qt.Key.Key_Right)  # → chooses dimension 2
    _hold(qtbot, win, Qt.Key.Key_Down)
    got += [_tick(qtbot, win).action for _ in range(2)]
    _release(qtbot, win, Qt.Key.Key_Down)
    got.append(_tick(qtbot, win).action)  # released: the vector stays where it was left
    assert "[-1.0]" in win.readout.text() and "dim 2/2" in win.readout.text()
    qtbot.keyClick(win, Qt.Key.Key_0)
    got.append(_tick(qtbot, win).action)
    expected = [(PUSH, 0), (1, 0), (1, 0), (1, -PUSH), (1, -1), (1, -1), (0, 0)]
    np.testing.assert_allclose(np.stack(got), np.array(expected, np.float32))


def test_r_resets_to_the_real_context_and_replays_the_same_dream(qtbot, open_play):
    win = open_play("dummy_disc", manual=True)
    start = win.steps[0]
    _hold(qtbot, win, Qt.Key.Key_3)
    first = [_tick(qtbot, win) for _ in range(4)]
    assert not np.array_equal(first[-1].real_frame, start.real_frame)
    qtbot.keyClick(win, Qt.Key.Key_R)
    qtbot.waitUntil(lambda: len(win.steps) == 1 and not win.in_flight, timeout=10_000)
    again = win.steps[0]
    assert again.t == 0 and again is not start
    np.testing.assert_array_equal(again.frame, start.frame)  # the same real start frame
    np.testing.assert_array_equal(again.real_frame, start.real_frame)
    np.testing.assert_array_equal(again.stoch, start.stoch)  # the same start latent
    second = [_tick(qtbot, win) for _ in range(4)]
    for a, b in zip(first, second):  # same seed, same actions: the same dream, and the real env replays too
        np.testing.assert_array_equal(a.frame, b.frame)
        np.testing.assert_array_equal(a.real_frame, b.real_frame)


def test_dm_control_real_beside_dream_has_zero_error_at_step_0(qtbot, open_play):
    win = open_play("dmc_cartpole_balance", manual=True)
    step0 = win.steps[0]
    assert step0.error == 0.0 and step0.real_frame.shape == (64, 64, 3)
    assert core_play.RESTORED in win.status.text()
    assert "the trainer's latest real frame" in win.status.text()  # the live run's moment, not a fresh reset
    np.testing.assert_array_equal(step0.real_frame, win.worker.trainer.obs["image"][0])  # (the run is paused)
    assert "error 0.0" in win.hud.text()
    step1 = _tick(qtbot, win)
    assert step1.error is not None and step1.error > 0  # an untrained-ish dream departs from real physics
    x, y = win.error_curve.getData()
    assert list(x) == [0, 1] and y[0] == 0.0 and y[1] == pytest.approx(step1.error)


def test_recording_reads_back_with_the_right_frame_count(qtbot, open_play, tmp_path):
    win = open_play("dummy_disc", manual=True)
    _hold(qtbot, win, Qt.Key.Key_2)
    for _ in range(5):
        _tick(qtbot, win)
    win.record(tmp_path / "session")
    qtbot.waitUntil(lambda: bool(win.last_record), timeout=30_000)
    npz, mp4 = win.last_record
    rec = core_play.load_recording(npz)
    assert len(rec) == 6 and rec.dream_frames.shape[0] == 6 and rec.real_frames.shape[0] == 6
    assert rec.actions.argmax(-1).tolist() == [1] * 5
    assert rec.meta["task"] == "dummy_disc"
    assert len(video.read_video(mp4)) == 6


def test_space_pauses_the_dream(qtbot, open_play):
    win = open_play("dummy_disc")
    qtbot.waitUntil(lambda: len(win.steps) >= 3, timeout=20_000)
    qtbot.keyClick(win, Qt.Key.Key_Space)
    qtbot.waitUntil(lambda: not win.in_flight, timeout=10_000)
    count = len(win.steps)
    for _ in range(5):  # five ticks of the clock go by without a step
        with qtbot.waitSignal(win.ticked, timeout=5_000):
            pass
    assert len(win.steps) == count and "paused" in win.status.text()
    qtbot.keyClick(win, Qt.Key.Key_Space)
    qtbot.waitUntil(lambda: len(win.steps) >= count + 2, timeout=20_000)


def test_hud_toggles_and_escape_leaves_play(qtbot, open_play):
    win = open_play("dummy_disc", manual=True)
    assert win.hud.isVisible() and "predicted reward" in win.hud.text() and "continue" in win.hud.text()
    qtbot.keyClick(win, Qt.Key.Key_H)
    assert not win.hud.isVisible() and not win.hud_box.isChecked()
    qtbot.keyClick(win, Qt.Key.Key_Escape)
    qtbot.waitUntil(lambda: win.thread.isFinished(), timeout=10_000)
    assert not win.isVisible()


def test_the_window_opens_play_from_its_toolbar(qtbot, make_window):
    from .helpers import wait_report

    window = make_window(debug_config())
    wait_report(qtbot, window)
    window.actions_by_name["play"].trigger()
    win = window.play_window
    try:
        assert isinstance(win, PlayWindow) and win.isVisible()
        qtbot.waitUntil(lambda: len(win.steps) >= 2, timeout=30_000)  # it plays while the run trains
        assert win.thread.weights_updates is not None
        t = window.model.t
        qtbot.keyClick(win, Qt.Key.Key_Space)  # Play's Space, not the main window's (which plays its time cursor)
        assert win.paused and not window.timeline.play.isChecked()
        qtbot.keyClick(win, Qt.Key.Key_Right)
        assert window.model.t == t  # the main window's cursor did not move
    finally:
        win.close()


def test_a_tick_during_a_running_step_is_owed_not_dropped(qtbot, open_play):
    win = open_play("dummy_disc", manual=True)
    _hold(qtbot, win, Qt.Key.Key_3)
    win.tick()
    assert win.in_flight
    win.tick()  # the step of the first tick is still running: this one is owed
    qtbot.waitUntil(lambda: len(win.steps) == 3 and not win.in_flight, timeout=10_000)
    assert [int(s.action.argmax()) for s in win.steps[1:]] == [2, 2]
    win.tick()
    qtbot.waitUntil(lambda: not win.in_flight, timeout=10_000)
    assert len(win.steps) == 4  # one tick, one step: nothing was left owed


def test_proprio_play_compares_vectors(qtbot, open_play):
    win = open_play("dmc_cartpole_balance", "proprio", manual=True)
    step0 = win.steps[0]
    assert step0.frame is None and step0.vector.shape == (5,) and step0.error == 0.0  # vector MSE, same start
    assert step0.real_frame.shape == (64, 64, 3)  # the rendered log/image, shown beside the bars
    step1 = _tick(qtbot, win)
    assert step1.vector.shape == (5,) and step1.error > 0
    assert win.dream_vec.isVisibleTo(win) and not win.dream_view.isVisibleTo(win)


def test_play_keys_keep_the_press_order_of_held_keys():
    from dreamer_studio.play import PlayKeys

    keys = PlayKeys(3, discrete=True)
    keys.press(Qt.Key.Key_2)
    keys.press(Qt.Key.Key_3)
    assert keys.action().argmax() == 2  # the newest key wins
    keys.release(Qt.Key.Key_3)
    assert keys.action().argmax() == 1  # back to the key pressed before it, still held
    keys.press(Qt.Key.Key_3)
    keys.press(Qt.Key.Key_2)  # pressed again with no release seen (it went elsewhere): the newest again
    assert keys.action().argmax() == 1
    keys.release(Qt.Key.Key_1)  # a release of a key never pressed here changes nothing
    keys.release_all()
    assert keys.action().argmax() == 0 and not keys.held


def test_play_from_a_chosen_replay_moment_uses_that_moments_frames(qtbot, make_window):
    from dreamer_core.envs.dummy import EPISODE_LENGTH

    from dreamer_studio import commands as cmd

    window = make_window(debug_config(), paused=True)
    qtbot.waitUntil(lambda: window.worker.info is not None, timeout=30_000)
    worker = window.worker
    steps = 2 * EPISODE_LENGTH + 10  # an ended episode that does not start the stream (its window has a context)
    for _ in range(steps):
        worker.send(cmd.Step())
    qtbot.waitUntil(lambda: worker.status.get()[1].agent_steps >= steps, timeout=60_000)
    report_now(qtbot, worker)  # the episode list comes with a report
    browser = window.replay_browser
    window.tabs.setCurrentWidget(browser)
    qtbot.waitUntil(lambda: browser.table.rowCount() > 0, timeout=10_000)
    row = next(r for r, e in enumerate(browser.episodes) if e.ended and e.start > 0)
    chosen = browser.episodes[row]
    assert browser.choose(row)
    qtbot.waitUntil(lambda: browser.pending is None, timeout=20_000)
    entry, _ = window.model.current()
    report = entry.report
    assert report.episode == (chosen.worker, chosen.start)
    t = 2  # a moment inside the episode, not the report's start
    window.model.set_t(t)
    win = browser.play_from_cursor()
    win.timer.stop()  # the test ticks the clock itself, one exact step per tick
    try:
        qtbot.waitUntil(lambda: len(win.steps) == 1 and not win.in_flight
                        and win.steps[0].info == core_play.REPLAY_FRESH, timeout=30_000)
        tr = worker.trainer  # paused: replay is not being written
        replay_row = chosen.worker * tr.replay.cap + chosen.start + t
        step0 = win.steps[0]
        np.testing.assert_array_equal(step0.frame, tr.replay.data["image"][replay_row])  # that moment's frame
        stoch = report.features[t, -step0.stoch.size:].reshape(step0.stoch.shape)
        np.testing.assert_array_equal(step0.stoch, stoch)  # and its posterior
        assert "replay stores no physics state" in win.status.text() and f"step {t + 1}" in win.status.text()
        assert win.thread.weights_updates == report.updates and win.live_button.isEnabled()
        with qtbot.waitSignal(worker.report_ready, timeout=20_000):  # the trainer offers Play its weights
            worker.send(cmd.ReportNow())
        qtbot.keyPress(win, Qt.Key.Key_3)
        dream = [_tick(qtbot, win) for _ in range(3)]
        qtbot.keyClick(win, Qt.Key.Key_R)  # back to the replay moment, not to the trainer's newer context
        qtbot.waitUntil(lambda: len(win.steps) == 1 and not win.in_flight, timeout=10_000)
        np.testing.assert_array_equal(win.steps[0].frame, step0.frame)
        np.testing.assert_array_equal(win.steps[0].stoch, step0.stoch)
        again = [_tick(qtbot, win) for _ in range(3)]
        for a, b in zip(dream, again):
            np.testing.assert_array_equal(a.frame, b.frame)  # the same dream from the same moment
        qtbot.keyRelease(win, Qt.Key.Key_3)
        win.live_button.click()  # and back to the trainer's latest real frame, restored exactly
        qtbot.waitUntil(lambda: len(win.steps) == 1 and not win.in_flight
                        and win.steps[0].info == core_play.RESTORED, timeout=10_000)
        np.testing.assert_array_equal(win.steps[0].real_frame, tr.obs["image"][0])
        assert "the trainer's latest real frame" in win.status.text() and not win.live_button.isEnabled()
    finally:
        win.close()
