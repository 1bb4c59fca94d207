"""Run: the config card (read-only, field comments as tooltips), device, seed, checkpoints and run controls."""

from __future__ import annotations

import html
import inspect
import re
from dataclasses import fields
from pathlib import Path

from PySide6.QtCore import Signal
from PySide6.QtWidgets import (QComboBox, QFormLayout, QGroupBox, QHBoxLayout, QLabel, QLineEdit, QListWidget,
                               QPushButton, QSpinBox, QTreeWidget, QTreeWidgetItem, QVBoxLayout, QWidget)

from dreamer_core import config as core_config
from dreamer_core.logdir import read_origin
from dreamer_studio import theme
from dreamer_studio.checks import config_overrides
from dreamer_studio.panels.base import Panel
from dreamer_studio.session import View

TASKS = ["dmc_cartpole_balance", "dmc_cartpole_swingup", "dmc_reacher_easy", "dmc_walker_walk",
         "dmc_cheetah_run", "gym_CartPole-v1", "gym_Pendulum-v1", "dummy_disc", "dummy_cont"]
GPU_NOTE = ("On this CPU only the small presets are practical: `debug` for a smoke test, `cpu` to watch frames "
            "sharpen within minutes. A CUDA GPU runs the official sizes (size12m and up) tens of times faster: "
            "train there with `dreamer-studio train --logdir DIR` and open DIR here to watch it.")


def field_docs() -> dict[str, str]:
    """'section.field' -> the comment next to the field in dreamer_core/config.py (tooltips)."""
    docs: dict[str, str] = {}
    for section, cls in core_config._SECTION_TYPES.items():
        for line in inspect.getsource(cls).splitlines():
            match = re.match(r"\s+(\w+): [^#]*#\s*(.*)$", line)
            if match:
                docs[f"{section}.{match.group(1)}"] = match.group(2)
    return docs


class RunPanel(Panel):
    title = "Run"
    start_new = Signal(str, str, str, int, str)  # task, obs, preset, seed, device
    action = Signal(str)  # start | pause | step | stop | save | save_as | load | open_run | report

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        layout = QHBoxLayout(self.content)
        left = QVBoxLayout()
        self._origins: dict[str, dict] = {}  # run directory -> its origin.json
        self.summary = QLabel()
        self.summary.setWordWrap(True)
        self.summary.setStyleSheet("font-size: 13px;")
        left.addWidget(self.summary)
        gpu = QLabel(GPU_NOTE)
        gpu.setWordWrap(True)
        gpu.setStyleSheet(theme.MUTED_STYLE)
        left.addWidget(gpu)
        buttons = QHBoxLayout()
        for name, text in (("start", "Start / resume"), ("pause", "Pause"), ("step", "Single step"),
                           ("stop", "Stop"), ("report", "Report now")):
            button = QPushButton(text)
            button.clicked.connect(lambda _=False, n=name: self.action.emit(n))
            buttons.addWidget(button)
        left.addLayout(buttons)
        files = QHBoxLayout()
        for name, text in (("save", "Save checkpoint"), ("save_as", "Save as…"), ("load", "Load checkpoint…"),
                           ("open_run", "Open run directory…")):
            button = QPushButton(text)
            button.clicked.connect(lambda _=False, n=name: self.action.emit(n))
            files.addWidget(button)
        left.addLayout(files)
        left.addWidget(QLabel("checkpoints"))
        self.checkpoints = QListWidget()
        self.checkpoints.setMaximumHeight(110)
        left.addWidget(self.checkpoints)
        left.addWidget(self._new_run_box())
        left.addStretch(1)
        layout.addLayout(left, 1)
        self.card = QTreeWidget()
        self.card.setHeaderLabels(["config (read-only)", "value"])
        self.card.setColumnWidth(0, 200)
        layout.addWidget(self.card, 1)
        self._docs = field_docs()
        self._card_for: object = None
        self.show_content()

    def _new_run_box(self) -> QWidget:
        box = QGroupBox("New run")
        form = QFormLayout(box)
        self.task = QComboBox(editable=True)
        self.task.addItems(TASKS)
        self.obs = QComboBox()
        self.obs.addItems(["vision", "proprio"])
        self.preset = QComboBox()
        self.preset.addItems(list(core_config.PRESETS))
        self.preset.setCurrentText("cpu")  # until a run is shown: then the current run's (see _fill_form)
        self.seed = QSpinBox(minimum=0, maximum=2**31 - 1)
        self.device = QLineEdit("auto")
        self.device.setToolTip("auto (CUDA if available, else CPU), cpu or cuda")
        self.overrides = QLineEdit()
        self.overrides.setPlaceholderText("section.field=value … (as --set)")
        self.overrides.setToolTip("config overrides, space-separated, as `--set` takes them; filled in with the "
                                  "current run's settings that differ from its preset")
        start = QPushButton("Start new run (stops the current one)")
        start.clicked.connect(lambda: self.start_new.emit(self.task.currentText().strip(), self.obs.currentText(),
                                                          self.preset.currentText(), self.seed.value(),
                                                          self.device.text().strip() or "auto"))
        for label, widget in (("task", self.task), ("obs", self.obs), ("preset", self.preset), ("seed", self.seed),
                              ("device", self.device), ("--set", self.overrides)):
            form.addRow(label, widget)
        form.addRow(start)
        return box

    def key(self, view: View) -> object:
        s = view.status
        return (id(view.info), s.phase, s.message, s.updates // 10, s.agent_steps // 100, s.checkpoints)

    def render(self, view: View) -> None:
        info, s = view.info, view.status
        # The worker's message often is or starts with the phase ("paused", "watching DIR …"): say it once.
        rest = s.message[len(s.phase):] if s.message.startswith(s.phase) else f": {s.message}" if s.message else ""
        lines = [f"<b>{s.phase}</b>{rest}"]
        if info is not None:
            c = info.config
            params = sum(info.params.values())
            lines += [f"task <b>{c.env.task}</b> ({c.env.obs}), preset <b>{c.preset}</b>, seed {c.run.seed}",
                      f"device <b>{info.device}</b>, {params:,} parameters",
                      f"run directory: {info.watch_dir or info.logdir or '(none: Save asks for a file)'}"]
            if info.resumed_from:
                lines.append(f"resumed from {info.resumed_from} (replay restored with it)")
            origin = self._origin(info.watch_dir or info.logdir)
            if origin is not None:
                lines.append(html.escape(f"began from {origin['source']} at {origin['updates']:,} updates and "
                                         f"{origin['env_frames']:,} env frames ({origin.get('kept', '')})"))
        lines.append(f"{s.agent_steps:,} agent steps · {s.env_frames:,} env frames · {s.updates:,} updates · "
                     f"{s.episodes:,} episodes" + (f" · last score {s.last_score:.1f}" if s.last_score is not None
                                                   else ""))
        self.summary.setText("<br>".join(lines))
        if [self.checkpoints.item(i).text() for i in range(self.checkpoints.count())] != list(s.checkpoints):
            self.checkpoints.clear()
            self.checkpoints.addItems(list(s.checkpoints))
        if info is not None and self._card_for is not info:
            self._card_for = info
            self._fill_card(info.config)
            self._fill_form(info.config)

    def _origin(self, run_dir: str | None) -> dict | None:
        """The run's origin.json (logdir.read_origin), read once per directory; a missing one is looked for again
        (a fork writes it just after it switches directory)."""
        if run_dir is None:
            return None
        if run_dir not in self._origins:
            origin = read_origin(Path(run_dir))
            if origin is None:
                return None
            self._origins[run_dir] = origin
        return self._origins[run_dir]

    def _fill_form(self, config) -> None:
        """The New-run form starts from the run on screen: its task, obs, preset, seed and --set overrides."""
        self.task.setCurrentText(config.env.task)
        self.obs.setCurrentText(config.env.obs)
        self.preset.setCurrentText(config.preset)
        self.seed.setValue(config.run.seed)
        try:
            self.overrides.setText(config_overrides(config))
        except ValueError:  # a config from elsewhere whose defaults no longer build: leave the field empty
            self.overrides.clear()

    def _fill_card(self, config) -> None:
        self.card.clear()
        top = QTreeWidgetItem(["preset", config.preset])
        self.card.addTopLevelItem(top)
        for section in ("env", "run", "model", "train"):
            obj = getattr(config, section)
            item = QTreeWidgetItem([section, ""])
            for f in fields(obj):
                child = QTreeWidgetItem([f.name, str(getattr(obj, f.name))])
                doc = self._docs.get(f"{section}.{f.name}")
                if doc:
                    child.setToolTip(0, doc)
                    child.setToolTip(1, doc)
                item.addChild(child)
            self.card.addTopLevelItem(item)
            item.setExpanded(section in ("env", "run", "model"))
