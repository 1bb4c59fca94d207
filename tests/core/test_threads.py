"""run.threads (dreamer_core/threads.py): the setting's parsing and config compatibility, the OpenMP wait policy set
before torch loads, and the thread controller's decisions on synthetic timings (no sleeps, no real clock)."""

import json
import os
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest
import torch

from dreamer_core.config import Config, make_config, parse_overrides, validate
from dreamer_core.threads import (AUTO, WAIT_VARIABLES, ThreadController, ThreadTuner, parse_setting, prepare_openmp,
                                   thread_limit, usable_cores)

ROOT = Path(__file__).parents[2]


# -- the setting ---------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("value, parsed", [(0, 0), (2, 2), (2.0, 2), ("3", 3), ("auto", AUTO), (" AUTO ", AUTO)])
def test_a_count_or_auto_parses(value, parsed):
    assert parse_setting("run.threads", value) == parsed


@pytest.mark.parametrize("value", [-1, 1.5, True, "many", "", None, [2]])
def test_anything_else_is_one_line_naming_the_field(value):
    with pytest.raises(ValueError, match=r"run\.threads must be a whole number of threads .* or \"auto\""):
        parse_setting("run.threads", value)


def test_config_takes_auto_from_set_and_round_trips_through_json():
    config = make_config("dummy_cont", "proprio", "debug", parse_overrides(["run.threads=auto"]))
    assert config.run.threads == AUTO
    assert Config.from_dict(json.loads(config.to_json())).run.threads == AUTO
    assert make_config("dummy_cont", "proprio", "debug", parse_overrides(["run.threads=2"])).run.threads == 2


def test_an_old_config_file_with_an_int_still_loads(tmp_path):
    old = json.loads(make_config("dummy_cont", "proprio", "debug").to_json())
    old["run"]["threads"] = 2  # as every config.json written before "auto" existed
    path = tmp_path / "config.json"
    path.write_text(json.dumps(old))
    assert Config.from_dict(json.loads(path.read_text())).run.threads == 2


def test_a_bad_value_in_a_file_or_in_code_is_refused():
    data = json.loads(make_config("dummy_cont", "proprio", "debug").to_json())
    data["run"]["threads"] = -2
    with pytest.raises(ValueError, match=r"run\.threads"):
        Config.from_dict(data)
    with pytest.raises(ValueError, match=r"run\.threads"):
        make_config("dummy_cont", "proprio", "debug", {"run": {"threads": "lots"}})
    config = make_config("dummy_cont", "proprio", "debug")
    with pytest.raises(ValueError, match=r"run\.threads must be a int \| str, got True"):  # built in code
        validate(replace(config, run=replace(config.run, threads=True)))


# -- the wait policy -----------------------------------------------------------------------------------------------
def test_auto_sets_a_passive_wait_policy_before_torch_loads(monkeypatch):
    monkeypatch.delitem(sys.modules, "torch")  # as in a fresh CLI process (restored after the test)
    environ: dict[str, str] = {}
    assert prepare_openmp(AUTO, environ)
    assert environ == {"OMP_WAIT_POLICY": "PASSIVE"}
    fixed: dict[str, str] = {}
    assert not prepare_openmp(2, fixed)
    assert fixed == {}  # an explicit count keeps OpenMP's default behaviour, as before


@pytest.mark.parametrize("variable", ["OMP_WAIT_POLICY", "GOMP_SPINCOUNT", "KMP_BLOCKTIME"])
def test_auto_keeps_a_wait_behaviour_the_user_chose(monkeypatch, variable):
    monkeypatch.delitem(sys.modules, "torch")
    environ = {variable: "1000"}
    assert not prepare_openmp(AUTO, environ)
    assert environ == {variable: "1000"}


def test_after_torch_loaded_auto_changes_nothing():
    environ: dict[str, str] = {}
    assert not prepare_openmp(AUTO, environ)  # libgomp read its environment when torch loaded it
    assert environ == {}


@pytest.mark.parametrize("flags, policy", [([], "PASSIVE"), (["--set", "run.threads=auto"], "PASSIVE"),
                                          (["--set", "run.threads=2"], None)])
def test_the_cli_sets_the_policy_before_anything_imports_torch(flags, policy):
    code = ("import os, sys\nfrom dreamer_studio.cli import parse_args, prepare_threads\n"
            "assert 'torch' not in sys.modules\n"
            f"prepare_threads(parse_args(['train', *{flags!r}]))\n"
            "print(os.environ.get('OMP_WAIT_POLICY'))")
    env = {k: v for k, v in os.environ.items() if k not in WAIT_VARIABLES}
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == str(policy)


# -- the controller ------------------------------------------------------------------------------------------------
def simulate(controller: ThreadController, seconds_per_update: dict[int, float], updates: int,
             start_time: float = 0.0) -> tuple[list[int], float]:
    """Feeds `updates` updates whose cost depends on the thread count in force; returns the counts set, the clock."""
    count, now, chosen = controller.current, start_time, []
    for _ in range(updates):
        now += seconds_per_update[count]
        new = controller.after_update(now)
        if new is not None:
            assert 1 <= new <= controller.max_threads
            count = new
            chosen.append(new)
    return chosen, now


def small_controller(**kwargs) -> ThreadController:
    options = dict(period=50, first_after=5, window=4, min_seconds=1.0, settle=1, margin=0.1)
    return ThreadController(**{**options, **kwargs})


def test_keeps_one_thread_when_two_are_much_slower_under_contention():
    controller = small_controller(max_threads=2, start=2)
    chosen, _ = simulate(controller, {2: 1.0, 1: 0.5}, updates=40)
    assert chosen[:2] == [1, 1]  # tried 1 thread, kept it
    assert controller.current == 1
    candidate, base_rate, rate = controller.decisions[0]
    assert (candidate, base_rate, rate) == (1, pytest.approx(1.0), pytest.approx(2.0))


def test_goes_back_when_the_trial_is_slower():
    controller = small_controller(max_threads=2, start=2)
    chosen, _ = simulate(controller, {2: 0.5, 1: 1.0}, updates=40)
    assert chosen[:2] == [1, 2]
    assert controller.current == 2


def test_hysteresis_a_trial_within_the_margin_does_not_switch():
    controller = small_controller(max_threads=2, start=2, margin=0.1)
    simulate(controller, {2: 1.0, 1: 1.0 / 1.05}, updates=200)  # 5% faster each time: noise, not a reason
    assert controller.current == 2
    assert len(controller.decisions) >= 3


def test_re_times_every_period_and_follows_a_change_of_load():
    controller = small_controller(max_threads=2, start=2)
    simulate(controller, {2: 1.0, 1: 0.5}, updates=40)  # contended: 1 thread wins
    assert controller.current == 1
    trials = len(controller.decisions)
    simulate(controller, {2: 0.25, 1: 0.5}, updates=200, start_time=1e3)  # alone again: 2 threads win back
    assert controller.current == 2
    assert len(controller.decisions) > trials


def test_never_more_threads_than_cores_and_alternates_halving_and_doubling():
    controller = small_controller(max_threads=8, start=4, period=10)
    chosen, _ = simulate(controller, {1: 1.0, 2: 1.0, 4: 1.0, 8: 1.0}, updates=300)
    candidates = [c for c, _, _ in controller.decisions]
    assert candidates[:4] == [2, 8, 2, 8]
    assert max(chosen) <= 8 and controller.current == 4


def test_a_window_lasts_at_least_min_seconds_and_window_updates():
    controller = small_controller(max_threads=2, start=2, first_after=1, window=4, min_seconds=10.0, settle=1)
    chosen, now = [], 0.0
    for update in range(1, 100):
        now += 0.5
        if controller.after_update(now) is not None:
            chosen.append(update)
    # update 1 ends the run phase, update 2 settles, then 20 timed updates of 0.5 s make the 10 s base window
    assert chosen[0] == 22


def test_a_single_core_never_changes_anything():
    controller = small_controller(max_threads=1, start=1)
    assert not controller.active
    assert simulate(controller, {1: 1.0}, updates=200)[0] == []


def test_forget_window_drops_a_pause_from_the_timing():
    controller = small_controller(max_threads=2, start=2, first_after=1, window=4, min_seconds=0.0, settle=0)
    now = 0.0
    for _ in range(3):  # run phase ends, the base window has begun
        now += 1.0
        controller.after_update(now)
    now += 3600.0  # paused for an hour between two updates
    controller.forget_window()
    simulate(controller, {2: 1.0, 1: 2.0}, updates=12, start_time=now)
    assert controller.decisions[0][1] == pytest.approx(1.0)  # the base rate does not see the hour


def test_refuses_a_start_outside_the_cores():
    with pytest.raises(ValueError):
        ThreadController(max_threads=2, start=3)


# -- the tuner and the trainer -------------------------------------------------------------------------------------
def test_tuner_sets_a_fixed_count_once_and_zero_leaves_torch_alone():
    calls: list[int] = []
    tuner = ThreadTuner(3, set_threads=calls.append, get_threads=lambda: 2)
    tuner.after_update()
    assert calls == [3] and tuner.controller is None
    ThreadTuner(0, set_threads=calls.append, get_threads=lambda: 2)
    assert calls == [3]


def test_omp_num_threads_caps_auto():
    assert thread_limit({"OMP_NUM_THREADS": "1"}) == 1
    assert thread_limit({"OMP_NUM_THREADS": "9999"}) == usable_cores()
    assert thread_limit({"OMP_NUM_THREADS": "junk"}) == thread_limit({}) == usable_cores()


def test_tuner_auto_applies_the_controllers_counts(monkeypatch):
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)  # tests/conftest.py sets 1, which would cap auto at 1
    calls: list[int] = []
    clock = iter(float(t) for t in range(10_000))
    tuner = ThreadTuner(AUTO, set_threads=calls.append, get_threads=lambda: 64, clock=lambda: next(clock))
    assert calls == [min(64, usable_cores())]  # torch's default, never more than this process may use
    assert tuner.controller is not None
    for _ in range(400):
        tuner.after_update()
    assert all(1 <= c <= usable_cores() for c in calls)
    assert len(calls) == 1 + 2 * len(tuner.controller.decisions)  # a trial, then the count kept


def test_trainer_feeds_the_controller_once_per_update():
    config = make_config("dummy_cont", "proprio", "debug", {"run": {"threads": AUTO, "train_fill": 64}})
    from dreamer_core.trainer import Trainer

    trainer = Trainer(config)
    try:
        assert trainer.threads.controller is not None
        # active whatever this machine's cores; its first trial is past the updates made here (nothing is set)
        controller = trainer.threads.controller = ThreadController(max_threads=2, start=1, first_after=100)
        while trainer.updates < 3:
            trainer.step()
        assert controller.countdown == 100 - trainer.updates
    finally:
        trainer.close()
        torch.set_num_threads(1)  # the test suite's setting (tests/conftest.py)
