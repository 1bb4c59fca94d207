"""FittedImageView: the picture is composed for the view's size, again when the view is resized."""

from __future__ import annotations

import numpy as np

from dreamer_studio.panels.fitted import FittedImageView


def test_the_picture_is_recomposed_for_the_new_size_on_resize(qtbot):
    view = FittedImageView()
    qtbot.addWidget(view)
    view.resize(300, 200)
    view.show()
    qtbot.waitExposed(view)
    asked = []

    def compose(available):
        asked.append(available)
        return np.zeros((available[1], available[0], 3), np.uint8)

    view.show_composed(compose)
    assert view.image.image.shape[:2] == (asked[-1][1], asked[-1][0])
    view.resize(600, 150)
    qtbot.waitUntil(lambda: asked[-1][0] > 500)
    assert view.image.image.shape[:2] == (asked[-1][1], asked[-1][0]) and asked[-1][1] < 150
    view.set_image(np.zeros((4, 4, 3), np.uint8))  # a fixed picture: no more composing
    count = len(asked)
    view.resize(400, 400)
    qtbot.wait(50)
    assert len(asked) == count and view.image.image.shape[:2] == (4, 4)
