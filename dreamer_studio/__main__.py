"""`python -m dreamer_studio` and the `dreamer-studio` command: the one parser tree in dreamer_studio/cli.py."""

from __future__ import annotations

import sys

from dreamer_studio.cli import main

if __name__ == "__main__":
    sys.exit(main())
