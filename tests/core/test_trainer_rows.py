"""The trainer hands each logged metrics row to its listeners (the Studio worker forwards exactly those), and its
one rate meter can be restarted so that no rate spans a pause or a load."""

import json

from dreamer_core.config import make_config
from dreamer_core.trainer import Trainer


def config(log_every: float = 0.0):
    return make_config("dummy_disc", "proprio", "debug", {"run": {"steps": 10_000, "log_every": log_every}})


def test_each_logged_row_reaches_every_listener_once_in_order(tmp_path):
    trainer = Trainer(config(), tmp_path)
    try:
        first, second = [], []
        trainer.row_listeners += [first.append, second.append]
        for _ in range(6):
            trainer.step()
        trainer.flush()
        written = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
        assert len(first) == 7 and first == second  # one row per step (log_every 0) plus the flush's
        assert [row["agent_steps"] for row in first] == [1, 2, 3, 4, 5, 6, 6]
        assert [row["time"] for row in first] == [row["time"] for row in written]  # the rows metrics.jsonl holds
    finally:
        trainer.close()


def test_no_row_is_handed_over_before_it_is_due():
    trainer = Trainer(config(log_every=3600.0))
    try:
        rows = []
        trainer.row_listeners.append(rows.append)
        for _ in range(3):
            trainer.step()
        assert rows == []
        trainer.flush()
        assert [row["agent_steps"] for row in rows] == [3]
    finally:
        trainer.close()


def test_restarting_the_rates_measures_from_now_and_forget_zeroes_them():
    trainer = Trainer(config())
    try:
        trainer.rates = {"fps/policy": 5.0, "fps/updates": 2.0}
        trainer._rate_mark = (0.0, 0, 0)  # a mark long ago: the next step would measure across the gap
        trainer.restart_rates()
        trainer.step()  # within a second of the restart: nothing new is measured
        assert trainer.rates == {"fps/policy": 5.0, "fps/updates": 2.0}
        trainer.restart_rates(forget=True)
        assert trainer.rates == {"fps/policy": 0.0, "fps/updates": 0.0}
    finally:
        trainer.close()
