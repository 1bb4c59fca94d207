"""Which replay window a trainer's report shows: the newest window of one env, the first `run.report_batch` envs
taking turns."""

import numpy as np

from dreamer_core.config import make_config
from dreamer_core.trainer import Trainer


def reports_of(report_batch: int, count: int = 3):
    """`count` reports in a row, without a step between them, of a 2-env run that never trains."""
    config = make_config("dummy_disc", "proprio", "debug", {"run": {
        "envs": 2, "report_batch": report_batch, "train_fill": 10**6, "log_every": 3600.0}})
    trainer = Trainer(config)
    try:
        window = config.run.report_length + config.train.replay_context
        for _ in range(window + 2):
            trainer.step()
        newest = [trainer.replay.recent(window, worker)["action"][0, config.train.replay_context:]
                  for worker in range(2)]  # (T, A) each
        return [trainer.report(seed=0) for _ in range(count)], newest
    finally:
        trainer.close()


def test_reports_take_the_first_report_batch_envs_in_turn():
    reports, newest = reports_of(report_batch=2)
    assert not np.array_equal(newest[0], newest[1])  # the two envs acted differently: their windows tell apart
    shown = [next(w for w in range(2) if np.array_equal(r.actions, newest[w])) for r in reports]
    assert shown == [0, 1, 0]


def test_a_report_batch_of_one_always_shows_the_first_env():
    reports, newest = reports_of(report_batch=1)
    assert all(np.array_equal(r.actions, newest[0]) for r in reports)
