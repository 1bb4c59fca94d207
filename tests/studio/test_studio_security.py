"""The studio's paths into a run directory from elsewhere: opening (watching) it never runs code from it, and a
Load that fails leaves the running session exactly as it was."""

from __future__ import annotations

import json

from .helpers import debug_config


def test_opening_a_run_whose_task_imports_a_module_runs_nothing(qtbot, make_worker, tmp_path, monkeypatch):
    marker = tmp_path / "pwnstudio.ran"
    (tmp_path / "pwnstudio.py").write_text(f"open({str(marker)!r}, 'w').write('imported')\n")
    monkeypatch.syspath_prepend(str(tmp_path))  # importable: only the code keeps it from running
    data = json.loads(debug_config().to_json())
    data["env"]["task"] = "gym_pwnstudio:Evil-v0"
    (tmp_path / "config.json").write_text(json.dumps(data))
    worker = make_worker(watch_dir=tmp_path, device="cpu")  # the path of `dreamer-studio --open DIR`
    with qtbot.waitSignal(worker.errored, timeout=30_000) as blocker:
        worker.start()
    worker.wait(10_000)
    assert not marker.exists()
    assert blocker.args[0] == "Could not start the run" and "env.task" in blocker.args[1]
    assert len(blocker.args[1].splitlines()) == 1
