"""The StudioModel without widgets: the time cursor, follow and pin, latent edits, imagination requests and held
action keys, against a plain run object (a report store, a metrics store and a RunInfo)."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

from dreamer_studio import commands as cmd
from dreamer_studio.held_keys import HeldKeys, held_action
from dreamer_studio.session import (ImagineResult, ImagineSettings, MetricsStore, ReportEntry, ReportStore, RunInfo,
                                    Status)
from dreamer_studio.studio_model import StudioModel

CONTEXT, STEPS, SAMPLES, HORIZON, LATENTS, CLASSES = 4, 8, 3, 16, 2, 5
LENGTH = CONTEXT + HORIZON  # the imagination runs past the report's STEPS


def add_report(run, updates: int = 10) -> ReportEntry:
    imagination = SimpleNamespace(rewards=np.zeros((SAMPLES, HORIZON)), seed=0, temperature=1.0)
    report = SimpleNamespace(context_len=CONTEXT, rewards=np.zeros(STEPS), imagination=imagination, updates=updates)
    entry = ReportEntry(id=run.reports.new_id(), report=report, start_stoch=np.eye(CLASSES)[[0] * LATENTS],
                        made_at=0.0)
    result = ImagineResult(report_id=entry.id, request_id=0, settings=ImagineSettings(), edits=(),
                           base=imagination, edited=None, actions=None)
    run.reports.add(entry, result)
    return entry


@pytest.fixture
def run():
    info = RunInfo(config=None, device="cpu", params={}, logdir=None, resumed_from=None, act_dim=3, discrete=True)
    return SimpleNamespace(reports=ReportStore(maxlen=4), metrics=MetricsStore(), info=info)


@pytest.fixture
def model(run):
    """A model looking at `run`; `model.sent` holds the commands it sent and `model.seen` its events."""
    sent, seen = [], []
    model = StudioModel(lambda command: sent.append(command) or True)
    for name in ("follow", "edits", "held", "notice"):
        model.events.connect(name, lambda *args, name=name: seen.append((name, *args)))
    model.reset(run)
    sent.clear()
    seen.clear()
    model.sent, model.seen = sent, seen
    return model


def test_the_cursor_stays_on_the_timeline(model, run):
    model.set_t(5)
    assert model.t == 0  # no report: a timeline of one step
    add_report(run)
    model.sync()
    model.set_t(10**9)
    assert model.t == LENGTH - 1
    model.step_back()
    assert model.t == LENGTH - 2
    model.go_first()
    model.step_back()
    assert model.t == 0
    model.step_forward()
    assert model.t == 1
    model.go_last()
    assert model.t == LENGTH - 1


def test_scrubbing_back_pins_the_report_and_new_reports_do_not_move_it(model, run):
    first, second, third = (add_report(run, updates) for updates in (1, 2, 3))
    model.sync()
    assert model.follow and model.current()[0] is third and model.report_ids == (first.id, second.id, third.id)
    model.older_report()
    assert not model.follow and model.current()[0] is second and model.pinned_id == second.id
    assert model.seen == [("follow", False)]
    add_report(run, 4)
    model.sync()
    assert model.current()[0] is second and model.index() == 1
    model.newer_report()
    model.newer_report()
    assert model.index() == 3 and not model.follow  # the newest, but pinned: the next report does not replace it
    model.set_follow(True)
    assert model.seen[-1] == ("follow", True)
    assert model.sent == []  # every report was already imagined with the current settings


def test_a_pinned_report_that_leaves_the_history_falls_back_to_the_oldest(model, run):
    entries = [add_report(run) for _ in range(3)]
    model.sync()
    model.pin(entries[0].id)
    assert model.current()[0] is entries[0]
    for _ in range(2):
        add_report(run)  # the history keeps 4: the second drops the pinned report
    model.sync()
    assert model.current()[0] is entries[1] and model.pinned_id == entries[1].id
    assert model.seen[-1][0] == "notice" and "left the history" in model.seen[-1][1]


def test_latent_edits_pin_the_report_and_reimagine_it(model, run):
    entry = add_report(run)
    model.sync()
    model.edit(1, 3)
    assert model.edits == {1: 3} and not model.follow and model.pinned_id == entry.id
    assert model.sent == [cmd.Imagine(entry.id, ImagineSettings(), ((1, 3),), 1)]
    assert ("edits", {1: 3}) in model.seen
    model.edit(1, 0)  # its own class undoes the edit
    assert model.edits == {} and model.sent[-1].edits == ()
    model.edit(0, 2)
    model.reset_edits()
    assert model.edits == {} and model.sent[-1].edits == () and model.seen[-1] == ("edits", {})


def test_edits_belong_to_their_report(model, run):
    first = add_report(run)
    model.sync()
    model.edit(0, 4)
    second = add_report(run)
    model.sync()
    assert model.current()[0] is first and all(c.report_id == first.id for c in model.sent)
    sent = len(model.sent)
    model.scrub_report(1)  # the newest report, imagined without edits: the first one's edits do not apply to it
    entry, result = model.current()
    assert entry is second and len(model.sent) == sent
    model.settle(entry, result)
    assert model.edits == {} and model.seen[-1] == ("edits", {})


def test_settings_that_failed_are_not_asked_for_again(model, run):
    entry = add_report(run)
    model.sync()
    wild = ImagineSettings(temperature=2.5)
    model.set_settings(wild)
    assert model.sent == [cmd.Imagine(entry.id, wild, (), 1)]
    model.imagine_failed(1)
    model.ensure_current_settings()
    assert len(model.sent) == 1
    model.set_settings(ImagineSettings(temperature=2.0))  # other settings are asked for
    model.ensure_current_settings()
    assert [c.settings.temperature for c in model.sent] == [2.5, 2.0, 2.0]


def test_two_held_digits_the_last_pressed_wins_and_releasing_it_falls_back(model):
    assert not model.press_key(ord("2"))  # the actions come from the policy: keys are not taken
    model.set_settings(ImagineSettings(source="keys"))
    assert model.press_key(ord("2")) and model.press_key(ord("3"))
    assert model.held_keys.keys == (ord("2"), ord("3"))
    assert model.seen[-2:] == [("held", (0.0, 1.0, 0.0)), ("held", (0.0, 0.0, 1.0))]
    assert model.release_key(ord("3"))
    assert model.seen[-1] == ("held", (0.0, 1.0, 0.0))  # back to the digit still held
    assert not model.release_key(ord("3")) and not model.press_key(ord("Q"))
    model.release_all()
    assert model.held_keys.keys == () and model.seen[-1] == ("held", (1.0, 0.0, 0.0))
    model.press_key(ord("1"))
    model.set_settings(ImagineSettings())  # leaving "your keys" forgets what was held
    assert model.held_keys.keys == ()


def test_held_keys_keep_the_order_of_their_presses():
    keys = HeldKeys()
    for key in "1", "4", "2":
        keys.press(ord(key))
    assert keys.action(5, discrete=True) == (0.0, 1.0, 0.0, 0.0, 0.0)
    keys.release(ord("2"))
    assert keys.action(5, discrete=True) == (0.0, 0.0, 0.0, 1.0, 0.0)
    keys.press(ord("1"))  # pressed again without a release seen: the newest again
    assert keys.keys == (ord("4"), ord("1")) and held_action(keys.keys, 5, discrete=True)[0] == 1.0


def test_the_view_carries_the_cursor_and_the_newest_metrics(model, run):
    entry = add_report(run)
    run.metrics.extend([{"step": 1.0}, {"step": 2.0}])
    model.sync()
    model.set_t(3)
    entry_now, result = model.current()
    view = model.view(entry_now, result, Status(), run.info)
    assert view.entry is entry and view.t == 3 and view.metrics == model.metrics == [{"step": 1.0}, {"step": 2.0}]
    assert model.report_caption(entry).startswith("1/1 · 10 updates")
    assert model.report_caption(None) == "no reports yet"
