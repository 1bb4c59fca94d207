"""Studio test fixtures: one torch thread, tiny real runs, and a guard against dangling QThreads."""

from __future__ import annotations

import gc
import traceback
import weakref

import pytest
import torch
from PySide6.QtCore import QThread

from .helpers import debug_config

torch.set_num_threads(1)  # a long benchmark shares this machine's two cores


@pytest.fixture(autouse=True)
def _dangling_qthreads(monkeypatch):
    """Fails a test that leaves a QThread running (after pytest-qt has closed the test's widgets).

    Autouse and independent of qtbot, so it is set up first and torn down last. Like napari's fixture, it
    records where each thread was started so the failure says which one leaked.
    """
    started: list[tuple[weakref.ref, str]] = []
    original = QThread.start

    def start(self, *args, **kwargs):
        started.append((weakref.ref(self), "".join(traceback.format_stack(limit=8)[:-1])))
        return original(self, *args, **kwargs)

    monkeypatch.setattr(QThread, "start", start)
    yield
    dangling = []
    for ref, where in started:
        thread = ref()
        try:
            running = thread is not None and thread.isRunning()
        except RuntimeError:  # the C++ object is already gone: it cannot be running
            running = False
        if running:
            dangling.append(where)
            stop = getattr(thread, "request_stop", None) or thread.quit
            stop()  # stop it anyway, so the process does not abort on "destroyed while running"
            thread.wait(30_000)
    # Collect this test's Qt garbage here, on the GUI thread: left to the cyclic collector, it may be collected
    # on a later test's trainer thread while the GUI thread runs, which can deadlock PySide.
    gc.collect()
    if dangling:
        pytest.fail(f"{len(dangling)} QThread(s) still running at the end of the test; stop and wait() them "
                    "(close the window or call worker.stop_and_wait()). Started at:\n" + "\n---\n".join(dangling))


@pytest.fixture
def make_worker(qtbot):
    """Builds TrainerWorkers on the debug preset and always stops and joins them."""
    from dreamer_studio.worker import TrainerWorker

    workers = []

    def factory(task="dummy_disc", obs="vision", paused=False, config=None, **kwargs):
        worker = TrainerWorker(config or debug_config(task, obs), paused=paused, **kwargs)
        workers.append(worker)
        return worker

    yield factory
    for worker in workers:
        worker.stop_and_wait()


@pytest.fixture
def make_window(qtbot, tmp_path):
    """Shown MainWindows; closing them at the end stops and joins their trainer threads. A watched run's local
    copy goes under tmp_path, never into the repository's runs/."""
    from dreamer_studio.window import MainWindow

    windows = []

    def factory(config=None, **kwargs):
        kwargs.setdefault("fork_root", tmp_path / "forks")
        window = MainWindow(config, **kwargs)
        qtbot.addWidget(window)
        window.show()
        windows.append(window)
        return window

    yield factory
    for window in windows:
        window.close()  # no event loop runs here: close waits for the trainer thread itself

