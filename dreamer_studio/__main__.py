"""`dreamer-studio`: the app by default; `train --headless` and `export` run without Qt."""

from __future__ import annotations

import sys


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    wants_help = any(a in ("-h", "--help") for a in argv)
    if argv and argv[0] in ("-h", "--help"):  # the app's flags (no Qt needed to list them) and the subcommands
        from dreamer_studio.app import build_parser

        build_parser().print_help()
        return 0
    headless = bool(argv) and (argv[0] == "export" or (argv[0] == "train" and ("--headless" in argv or wants_help)))
    if headless:
        from dreamer_core.cli import main as cli_main

        return cli_main(argv)
    from dreamer_studio.app import main as app_main

    return app_main(argv)


if __name__ == "__main__":
    sys.exit(main())
