"""Keyboard-held actions for imagination: digits pick a discrete action, WASD push continuous dims 0 and 1."""

from __future__ import annotations

from PySide6.QtCore import Qt

DISCRETE_KEYS = [getattr(Qt.Key, f"Key_{i}") for i in range(1, 10)]
CONTINUOUS_KEYS = {Qt.Key.Key_A: (0, -1.0), Qt.Key.Key_D: (0, 1.0), Qt.Key.Key_W: (1, 1.0), Qt.Key.Key_S: (1, -1.0)}


def is_action_key(key) -> bool:
    return key in DISCRETE_KEYS or key in CONTINUOUS_KEYS


def held_action(held: set, act_dim: int, discrete: bool) -> tuple[float, ...]:
    """The action the held keys spell: one-hot of the last digit held (action 1 when none), or the sum of the
    WASD pushes per continuous dimension."""
    action = [0.0] * act_dim
    if discrete:
        pressed = [DISCRETE_KEYS.index(k) for k in held if k in DISCRETE_KEYS]
        action[min(pressed[-1] if pressed else 0, act_dim - 1)] = 1.0
    else:
        for key in held:
            if key in CONTINUOUS_KEYS:
                dim, sign = CONTINUOUS_KEYS[key]
                if dim < act_dim:
                    action[dim] += sign
    return tuple(action)
