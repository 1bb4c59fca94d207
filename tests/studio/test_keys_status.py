"""Pure helpers behind the window: the held-key action (Qt key codes in) and the status line text."""

from __future__ import annotations

from PySide6.QtCore import Qt

from dreamer_studio.held_keys import held_action, is_action_key
from dreamer_studio.session import Status, status_text


def test_held_keys_spell_discrete_and_continuous_actions():
    assert held_action(set(), 3, discrete=True) == (1.0, 0.0, 0.0)  # no key: the first action
    assert held_action({Qt.Key.Key_3}, 3, discrete=True) == (0.0, 0.0, 1.0)
    assert held_action({Qt.Key.Key_9}, 3, discrete=True) == (0.0, 0.0, 1.0)  # clamped to the last action
    assert held_action((Qt.Key.Key_3, Qt.Key.Key_2), 3, discrete=True) == (0.0, 1.0, 0.0)  # the last press wins
    assert held_action({Qt.Key.Key_D, Qt.Key.Key_W}, 2, discrete=False) == (1.0, 1.0)
    assert held_action({Qt.Key.Key_A, Qt.Key.Key_D}, 2, discrete=False) == (0.0, 0.0)  # opposite pushes cancel
    assert held_action({Qt.Key.Key_W}, 1, discrete=False) == (0.0,)  # W moves dim 1, which a 1-d action lacks
    assert is_action_key(Qt.Key.Key_A) and not is_action_key(Qt.Key.Key_Space)


def test_status_line_shows_rates_only_while_running_and_the_report_timing():
    running = Status(phase="training", message="training", update_fps=1.234, policy_fps=4.5, report_eta=12.0,
                     updates=1500, env_frames=40_000)
    text = status_text(running, None, has_reports=True)
    assert "1.23 updates/s · 4.5 env steps/s" in text and "next report in 12 s" in text
    assert "1,500 updates · 40,000 env frames" in text
    waiting = Status(phase="collecting", message="collecting", report_eta=None)
    assert "first report as soon as" in status_text(waiting, None, has_reports=False)
    paused = Status(phase="paused", message="paused", updates=7)
    text = status_text(paused, None, has_reports=True)
    assert "updates/s" not in text and "7 updates" in text
