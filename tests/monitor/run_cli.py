"""``python -m tests.monitor.run_cli ARGS``: the ``chainswarm`` command with ``health`` and ``monitor``
registered, for as long as ``cli/main.py`` does not list them itself."""

from __future__ import annotations

import sys

from chainswarm.cli import main

MONITOR_COMMANDS = ("health", "monitor")

if __name__ == "__main__":
    main.COMMAND_MODULES = tuple(dict.fromkeys((*main.COMMAND_MODULES, *MONITOR_COMMANDS)))
    sys.exit(main.main())
