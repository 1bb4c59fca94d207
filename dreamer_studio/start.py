"""The first screen of `dreamer-studio` without arguments: watch a trained model at once, or train one live.

A new user should see a world model dream within seconds, not wait hours for one to learn. The left card lists
the models shipped in assets/models (from their model cards); Watch opens one read-only on a fresh context from
the env. The right card starts live training of the default task, with honest expectations of how long it
takes, and opens a run directory. The page is the window's first tab; the other tabs fill in once a run starts.
"""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QPixmap
from PySide6.QtWidgets import (QGroupBox, QHBoxLayout, QHeaderView, QLabel, QPushButton, QTreeWidget,
                               QTreeWidgetItem, QVBoxLayout, QWidget)

from dreamer_core.models import PREVIEW_FILE, ModelCard
from dreamer_studio import theme

# How long live training takes to show something, on the first screen, from the measured runs (docs/results/
# README.md: time to a competent world model, the curves, why the pixel run is stuck); each phrase completes the
# sentence shown.
TRAINING_TIMES = {
    # CPU, 2 cores, preset `cpu`: pixel error 10x below an untrained model after ~150 updates (~5 minutes)
    # the soak's screenshot (docs/screenshots/11_*): the cart drawn, no pole yet, at 2,073 updates after 41 minutes
    # the size1m pixel run (same CNN widths) still left the pole out after 9,400 updates, ~8 h (probe_checkpoint)
    "cpu_world_model": ("within about 5 minutes the decoded frames show the scene (sky, track, floor); the cart "
                        "after about 40 minutes (2,000 updates); the thin pole not yet: a size1m pixel model still "
                        "left it out after 8 hours (9,400 updates) and drew it faintly from about 12,000"),
    # proprio, preset cpu, ratio 512: over 800 from 54 minutes (27,500 updates), 927 over 30-40k frames by 76
    # minutes on one thread (the shipped cartpole_balance_proprio); size1m at ratio 1024 balanced from ~65k frames,
    # about 5 hours on 2 cores; gym CartPole-v1 (preset cpu, ratio 128) held 500 from 55k frames, 1.8 hours on 2
    # shared cores (docs/results); pixels: the size1m run scored 285 over 90-100k frames (12,243 updates, 9.3 h),
    # mean 369 over the 13 episodes since (to 13,800 updates): the shipped cartpole_balance_vision; trained on from
    # it (session 13), 372 over 120-130k frames at 15,800 updates, ~12 h in all
    "cpu_policy": ("an hour or more (dm_control cartpole from proprio vectors on the `cpu` preset about 1 hour, gym "
                   "CartPole-v1 about 2 hours); "
                   "from pixels not on this CPU: a size1m pixel run still scored about 370 of 1,000 after about "
                   "12 hours (15,800 updates), its model only then beginning to draw the pole"),
    "gpu": "not measured yet (no GPU has been available to this project)",
}
COLUMNS = ("model", "task", "observation", "policy check", "score", "updates", "env frames")


def policy_text(card: ModelCard) -> str:
    """The "policy check" column: the return of the card's evaluation episode beside an untrained agent's on the
    same episode (where the card has it), or, for a world-model-only card (a pixel model shipped to watch its
    dreams), that it has none."""
    if card.world_model_only:
        return "none: world model only"
    untrained = card.get("untrained_return")  # absent on cards shipped before it
    return (f"{_number(card.get('eval_return'))} in {_number(card.get('eval_steps'))} steps"
            + (f" (untrained {_number(untrained)})" if untrained is not None else ""))


def _number(value, digits: int = 0) -> str:
    return f"{value:,.{digits}f}" if isinstance(value, (int, float)) else "?"


class StartPage(QWidget):
    watch_requested = Signal(str)  # a model directory
    train_requested = Signal()
    open_requested = Signal()

    def __init__(self, cards: list[ModelCard], train_text: str, cuda: bool, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.cards = list(cards)
        title = QLabel("Dreamer Studio")
        title.setStyleSheet(theme.TITLE_STYLE)
        intro = QLabel("A DreamerV3 agent learns a model of its world from what it sees, and acts in the futures "
                       "that model dreams. Watch a trained one dream right now, or train your own and watch it "
                       "learn.")
        intro.setWordWrap(True)
        intro.setStyleSheet(theme.INTRO_STYLE)
        cardrow = QHBoxLayout()
        cardrow.addWidget(self._watch_box(), 3)
        cardrow.addWidget(self._train_box(train_text, cuda), 2)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(*theme.PAGE_MARGINS)
        layout.addWidget(title)
        layout.addWidget(intro)
        layout.addSpacing(12)
        layout.addLayout(cardrow, 1)

    def _watch_box(self) -> QGroupBox:
        box = QGroupBox("Watch a trained model (instant)")
        self.models = QTreeWidget()
        self.models.setHeaderLabels(list(COLUMNS))
        self.models.setRootIsDecorated(False)
        self.models.header().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        for card in self.cards:
            item = QTreeWidgetItem([card.name, str(card.get("task", "?")), str(card.get("obs", "?")),
                                    policy_text(card), _number(card.get("score")),
                                    _number(card.get("updates")), _number(card.get("env_frames"))])
            item.setData(0, Qt.ItemDataRole.UserRole, str(card.path))
            item.setToolTip(0, card.summary())
            self.models.addTopLevelItem(item)
        self.models.itemDoubleClicked.connect(lambda item, _column: self._watch(item))
        self.preview = QLabel()  # the selected model's real frames over its open-loop dream, from its card
        self.preview.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.models.currentItemChanged.connect(lambda item, _old: self._show_preview(item))
        self.watch_button = QPushButton("Watch this model")
        self.watch_button.setDefault(True)
        self.watch_button.clicked.connect(lambda: self._watch(self.models.currentItem()))
        if self.cards:
            self.models.setCurrentItem(self.models.topLevelItem(0))
            text = ("Opens in seconds: the trained policy plays a few steps for a fresh real context, then every "
                    "panel shows what the model reconstructs, the futures it imagines, its critic and latents. "
                    "Read-only: Continue training trains a copy in a new run directory, and its replay starts "
                    "empty (a model ships without its training data).")
        else:
            text = ("No trained models are shipped with this copy yet (assets/models is empty). Train one "
                    "live on the right, or open a run directory written by `dreamer-studio train`.")
            self.watch_button.setEnabled(False)
        note = QLabel(text)
        note.setWordWrap(True)
        note.setStyleSheet(theme.MUTED_STYLE)
        layout = QVBoxLayout(box)
        layout.addWidget(self.models, 1)
        layout.addWidget(self.preview)
        layout.addWidget(note)
        layout.addWidget(self.watch_button, 0, Qt.AlignmentFlag.AlignLeft)
        if not self.cards:  # an empty table and a dead button say nothing: the note alone, at the top
            self.models.hide()
            self.watch_button.hide()
            layout.addStretch(1)
        return box

    def _train_box(self, train_text: str, cuda: bool) -> QGroupBox:
        box = QGroupBox("Train a new one live")
        t = TRAINING_TIMES
        here = "This machine has a CUDA GPU." if cuda else "This machine has no CUDA GPU: training runs on the CPU."
        expect = QLabel(f"{train_text}\n\nWhat to expect. CPU: {t['cpu_world_model']}; a policy that balances "
                        f"takes {t['cpu_policy']}. GPU: {t['gpu']}.\n{here}\n\nTraining is "
                        "live: pause it, step it, edit a latent and watch the future change.")
        expect.setWordWrap(True)
        self.train_button = QPushButton("Train live")
        self.train_button.clicked.connect(self.train_requested)
        self.open_button = QPushButton("Open a run directory…")
        self.open_button.clicked.connect(self.open_requested)
        buttons = QHBoxLayout()
        buttons.addWidget(self.train_button)
        buttons.addWidget(self.open_button)
        buttons.addStretch(1)
        layout = QVBoxLayout(box)
        layout.addWidget(expect)
        layout.addStretch(1)
        layout.addLayout(buttons)
        return box

    def _show_preview(self, item: QTreeWidgetItem | None) -> None:
        pixmap = QPixmap()
        if item is not None:
            path = f"{item.data(0, Qt.ItemDataRole.UserRole)}/{PREVIEW_FILE}"
            if pixmap.load(path):
                pixmap = pixmap.scaledToHeight(2 * pixmap.height(), Qt.TransformationMode.FastTransformation)
        self.preview.setPixmap(pixmap)
        self.preview.setToolTip("top: real frames (green border); below: what the model imagines from the same "
                                "start under the same actions (red border)" if not pixmap.isNull() else "")

    def _watch(self, item: QTreeWidgetItem | None) -> None:
        if item is not None:
            self.watch_requested.emit(item.data(0, Qt.ItemDataRole.UserRole))


def add_start_page(window, cards: list[ModelCard], train_text: str, cuda: bool, watch, train) -> StartPage:
    """Puts the start page first on `window`'s tabs. `watch(model_dir)` and `train()` open a model and start the
    live run; both then switch to the world-model tab."""
    page = StartPage(cards, train_text, cuda)
    world = window.tabs.widget(0)
    window.tabs.insertTab(0, page, "Start")
    window.tabs.setCurrentWidget(page)

    def then_show(action, *args) -> None:
        action(*args)
        window.tabs.setCurrentWidget(world)

    page.watch_requested.connect(lambda path: then_show(watch, path))
    page.train_requested.connect(lambda: then_show(train))
    page.open_requested.connect(lambda: window.on_run_action("open_run"))
    window.start_page = page
    return page
