"""Qt-free pieces shared by the threads: the command inbox and the metrics tail of a watched run directory."""

from __future__ import annotations

import json
import os

from dreamer_studio import commands as cmd
from dreamer_studio.rundir import MetricsTail
from dreamer_studio.session import ImagineSettings


def test_imagine_requests_coalesce_as_they_are_queued_so_pause_and_save_always_fit():
    inbox = cmd.Inbox(maxsize=8)
    inbox.put(cmd.Step())
    for i in range(500):  # a user dragging a slider during one long train step
        inbox.put(cmd.Imagine(1, ImagineSettings(seed=i), (), i))
    inbox.put(cmd.Pause())
    inbox.put(cmd.Save())
    assert len(inbox) == 4
    drained = inbox.drain()
    assert drained[:1] == [cmd.Step()] and drained[2:] == [cmd.Pause(), cmd.Save()]
    assert drained[1].request_id == 499  # only the newest request waits
    assert inbox.drain(timeout=0.01) == []


def _write(path, rows):
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))


def test_metrics_tail_starts_over_when_the_file_is_replaced_or_shrinks(tmp_path):
    path = tmp_path / "metrics.jsonl"
    _write(path, [{"step": s} for s in (1, 2, 3, 4, 5)])
    tail = MetricsTail(tmp_path)
    assert [r["step"] for r in tail.read_new()] == [1, 2, 3, 4, 5] and not tail.restarted
    with open(path, "a") as f:
        f.write(json.dumps({"step": 6}) + "\n" + '{"step": 7')  # a half-written last line waits
    assert [r["step"] for r in tail.read_new()] == [6] and not tail.restarted
    # A resumed trainer rewrites the file atomically: shorter, under a new inode.
    tmp = tmp_path / "metrics.jsonl.tmp"
    _write(tmp, [{"step": 1}, {"step": 2}])
    os.replace(tmp, path)
    assert [r["step"] for r in tail.read_new()] == [1, 2] and tail.restarted
    assert tail.read_new() == [] and not tail.restarted
    # Truncated in place (same inode): shorter than what was read.
    _write(path, [{"step": 1}])
    assert [r["step"] for r in tail.read_new()] == [1] and tail.restarted


def test_run_page_says_the_phase_once_when_the_message_repeats_it(qtbot):
    from dreamer_studio.panels.run import RunPanel
    from dreamer_studio.session import Status, View

    panel = RunPanel()
    qtbot.addWidget(panel)
    panel.render(View(status=Status(phase="paused", message="paused")))
    assert "paused: paused" not in panel.summary.text() and "<b>paused</b>" in panel.summary.text()
    panel.render(View(status=Status(phase="paused", message="saved runs/x/latest.ckpt")))
    assert "<b>paused</b>: saved runs/x/latest.ckpt" in panel.summary.text()
