"""Screenshots of the first screen and of a shipped trained model, in a real X window (Xvfb).

    xvfb-run -a -s "-screen 0 1600x1000x24" .venv/bin/python scripts/screenshots_models.py [--model NAME]

Writes docs/screenshots/00_start_page.png (the start page of `dreamer-studio` without arguments) and
docs/screenshots/01_trained_model.png (the World model tab after Watch, on the model's first report). Needs at
least one model in dreamer_core/assets/models (scripts/ship_model.py). Run Continue training is not shown: the
shots write nothing anywhere but docs/screenshots.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "xcb")
os.environ.setdefault("SDL_VIDEODRIVER", "dummy")
ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def pump(app, seconds: float) -> None:
    end = time.time() + seconds
    while time.time() < end:
        app.processEvents()
        time.sleep(0.01)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default=None, help="model to watch (default: the first one from pixels)")
    parser.add_argument("--out", default=str(ROOT / "docs" / "screenshots"))
    args = parser.parse_args()
    if not os.environ.get("DISPLAY"):
        print("no DISPLAY: run under xvfb-run (see the docstring)", file=sys.stderr)
        return 2
    import torch
    from PySide6.QtWidgets import QApplication

    from dreamer_core import models
    from dreamer_studio.app import launch

    torch.set_num_threads(1)
    cards = models.shipped()
    if not cards:
        print("no shipped models in dreamer_core/assets/models: make one with scripts/ship_model.py", file=sys.stderr)
        return 2
    names = [c.name for c in cards]
    pick = args.model or next((c.name for c in cards if c.get("obs") == "vision"), names[0])
    if pick not in names:
        print(f"no shipped model {pick!r} (shipped: {', '.join(names)})", file=sys.stderr)
        return 2
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    app = QApplication.instance() or QApplication([sys.argv[0]])
    window = launch([])
    window.resize(1600, 1000)
    page = window.start_page
    page.models.setCurrentItem(page.models.topLevelItem(names.index(pick)))
    pump(app, 1.0)
    window.grab().save(str(out / "00_start_page.png"))
    began = time.time()
    page.watch_button.click()
    while window.model.current()[0] is None or window.model.current()[1] is None:
        if time.time() - began > 300:
            print("no report after 300 s", file=sys.stderr)
            return 1
        pump(app, 0.05)
    print(f"first report of {pick} after {time.time() - began:.1f} s", flush=True)
    pump(app, 0.8)  # let the GUI timer draw the panels
    window.grab().save(str(out / "01_trained_model.png"))
    print(f"wrote {out / '00_start_page.png'} and {out / '01_trained_model.png'}")
    window.close()
    pump(app, 0.5)
    return 0


if __name__ == "__main__":
    sys.exit(main())
