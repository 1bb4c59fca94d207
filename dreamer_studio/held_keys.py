"""Keyboard-held actions for imagination: digits pick a discrete action, WASD push continuous dims 0 and 1.

Qt-free (the StudioModel holds the keys): Qt's key codes for digits and upper-case letters are their ASCII codes,
so `ord("1")` is `Qt.Key.Key_1` and `ord("A")` is `Qt.Key.Key_A`.
"""

from __future__ import annotations

from collections.abc import Iterable

DISCRETE_KEYS = [ord(str(i)) for i in range(1, 10)]
CONTINUOUS_KEYS = {ord("A"): (0, -1.0), ord("D"): (0, 1.0), ord("W"): (1, 1.0), ord("S"): (1, -1.0)}


def is_action_key(key: int) -> bool:
    return key in DISCRETE_KEYS or key in CONTINUOUS_KEYS


def held_action(held: Iterable[int], act_dim: int, discrete: bool) -> tuple[float, ...]:
    """The action the held keys (oldest press first) spell: one-hot of the digit pressed last (action 1 when
    none), or the sum of the WASD pushes per continuous dimension."""
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


class HeldKeys:
    """The action keys held now, in the order they were pressed: the newest digit wins, and releasing it falls
    back to the digit pressed before it that is still held."""

    def __init__(self) -> None:
        self._keys: list[int] = []

    @property
    def keys(self) -> tuple[int, ...]:
        return tuple(self._keys)

    def __contains__(self, key: int) -> bool:
        return key in self._keys

    def __bool__(self) -> bool:
        return bool(self._keys)

    def press(self, key: int) -> None:
        if key in self._keys:
            self._keys.remove(key)  # a second press (no release seen) makes it the newest again
        self._keys.append(key)

    def release(self, key: int) -> None:
        self._keys.remove(key)

    def clear(self) -> None:
        self._keys.clear()

    def action(self, act_dim: int, discrete: bool) -> tuple[float, ...]:
        return held_action(self._keys, act_dim, discrete)
