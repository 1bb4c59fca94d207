"""Listing replay's episodes (dreamer_core.replay.replay_episodes) and a report on a chosen one."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from dreamer_core.replay import Replay, episode_window, replay_episodes, report_from_episode

torch.set_num_threads(1)

SPACES = {"reward": ((), np.float32), "is_first": ((), bool), "is_last": ((), bool), "x": ((), np.int64)}


def _add(replay, lengths, worker=0, reward=1.0):
    """Episodes of the given lengths; each step's reward is `reward` (the first step's is 0, as from a reset)."""
    for n in lengths:
        for i in range(n):
            replay.add({"reward": 0.0 if i == 0 else reward, "is_first": i == 0, "is_last": i == n - 1,
                        "x": int(replay.counts[worker])}, worker)


def test_episodes_of_two_workers_with_lengths_returns_and_dates():
    replay = Replay(SPACES, capacity=200, length=4, workers=2, online=False)
    _add(replay, [5, 7, 3], worker=0)
    _add(replay, [6], worker=1, reward=0.5)
    _add(replay, [4], worker=1)
    replay.add({"reward": 0.0, "is_first": True, "is_last": False, "x": 10}, 1)  # an episode in flight
    eps = replay_episodes(replay, env_frames=1000, frames_per_step=4)
    assert [(e.worker, e.start, e.length) for e in eps] == [(0, 0, 5), (0, 5, 7), (0, 12, 3), (1, 0, 6),
                                                            (1, 6, 4), (1, 10, 1)]
    assert [e.ret for e in eps] == pytest.approx([4.0, 6.0, 2.0, 2.5, 3.0, 0.0])
    assert [e.ended for e in eps] == [True] * 5 + [False]
    assert all(e.whole_start for e in eps)
    # Dated in env frames: worker 0's newest step (15) is 1000 - 4 frames, its first episode ended at step 4.
    assert eps[2].end_frames == 996 and eps[0].end_frames == 1000 - (15 - 4) * 4


def test_an_overwritten_start_and_an_env_failure_split_episodes_right():
    replay = Replay(SPACES, capacity=12, length=4, online=False)
    _add(replay, [8, 6])  # 14 steps in a ring of 12: the first episode lost its first two steps
    eps = replay_episodes(replay)
    assert [(e.start, e.length, e.whole_start, e.ended) for e in eps] == [(2, 6, False, True), (8, 6, True, True)]
    assert eps[0].ret == pytest.approx(6.0)
    replay.add({"reward": 0.0, "is_first": True, "is_last": False, "x": 0})
    replay.add({"reward": 1.0, "is_first": False, "is_last": False, "x": 0})
    replay.end_episode()  # its env failed: the stored episode ends here
    replay.add({"reward": 0.0, "is_first": False, "is_last": False, "x": 0})  # the next step starts another
    eps = replay_episodes(replay)
    assert [(e.start, e.length, e.ended) for e in eps[-2:]] == [(14, 2, True), (16, 1, False)]


def test_episode_window_starts_at_the_episode_and_stays_in_replay():
    replay = Replay(SPACES, capacity=100, length=4, online=False)
    _add(replay, [5, 7, 9])
    batch = episode_window(replay, 0, 5, length=6, context=1)
    assert batch["index"][0, :, 1].tolist() == list(range(4, 10))  # context step 4, then the episode from 5
    assert batch["x"][0].tolist() == list(range(4, 10))
    assert episode_window(replay, 0, 0, 6, 1)["index"][0, 0, 1] == 0  # no step before the first: moved
    assert episode_window(replay, 0, 19, 6, 1)["index"][0, -1, 1] == 20  # ends at the newest step
    with pytest.raises(ValueError, match="no longer in replay"):
        episode_window(replay, 0, 21, 6, 1)


def test_the_streams_first_episode_keeps_its_first_step_in_the_window():
    # Nothing precedes stream step 0: the K = 3 context steps repeat it (its is_first makes them unread), so the
    # T report steps start at the episode, not K steps into it.
    replay = Replay(SPACES, capacity=100, length=4, online=False)
    _add(replay, [9, 7])
    batch = episode_window(replay, 0, 0, length=7, context=3)
    assert batch["x"][0].tolist() == [0, 0, 0, 0, 1, 2, 3]
    assert batch["is_first"][0, 3] and not batch["is_first"][0, 4:].any()
    assert episode_window(replay, 0, 1, 7, 3)["x"][0].tolist() == list(range(7))  # not an episode start: moved


def test_the_list_matches_what_a_dummy_run_put_in_replay(tmp_path):
    from dreamer_core.config import make_config
    from dreamer_core.envs.dummy import EPISODE_LENGTH
    from dreamer_core.trainer import Trainer

    trainer = Trainer(make_config("dummy_disc", "vision", "debug", {"run": {"device": "cpu"}}), tmp_path)
    try:
        for _ in range(3 * EPISODE_LENGTH + 12):
            trainer.step()
        per_step = len(trainer.envs) * trainer.config.env.action_repeat
        eps = replay_episodes(trainer.replay, trainer.counters.env_frames, per_step)
        ended = [e for e in eps if e.ended]
        assert len(ended) == len(trainer.scores) == 3 and not eps[-1].ended
        assert [e.length for e in ended] == [EPISODE_LENGTH + 1] * 3  # the reset step, then 40 actions
        assert [e.ret for e in ended] == pytest.approx([s for _, s in trainer.scores])
        assert [e.end_frames for e in ended] == [f for f, _ in trainer.scores]  # dated as the trainer dates scores
        assert sum(e.length for e in eps) == trainer.replay.steps
        # A report on the second episode: its real frames are that episode's, from its first step.
        ep = ended[1]
        report = report_from_episode(trainer, ep.worker, ep.start, samples=2, horizon=4)
        rows = ep.worker * trainer.replay.cap + np.arange(ep.start, ep.start + len(report.rewards))  # (L,)
        np.testing.assert_array_equal(report.real, trainer.replay.data["image"][rows])
        assert report.is_first[0] and report.episode == (ep.worker, ep.start)
        first = report_from_episode(trainer, 0, 0, samples=2, horizon=4)  # the stream's first episode too
        np.testing.assert_array_equal(first.real, trainer.replay.data["image"][: len(first.rewards)])
        assert first.is_first[0] and first.episode == (0, 0)
        assert report_from_episode(trainer, 0, trainer.replay.counts[0] + 5) is None  # not (or no longer) stored
    finally:
        trainer.close()
