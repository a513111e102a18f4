"""Run the mlmigrate CLI in a child process that SIGKILLs itself at an exact point."""

from __future__ import annotations

import signal
import subprocess
import sys

from cli_helpers import show

#: Kills the process the first time the journal is asked to mark a unit: the unit's
#: write has committed in the destination, the journal does not know it yet.
_KILL_AT_FIRST_MARK = """
import os, signal, sys
from mlmigrate.engine.journal import Journal

def die(*args, **kwargs):
    os.kill(os.getpid(), signal.SIGKILL)

Journal.mark = die
from mlmigrate.cli import main
sys.argv = ["mlmigrate", *sys.argv[1:]]
main()
"""


def copy_killed_after_first_commit(*args: str) -> None:
    """``mlmigrate copy ARGS``, killed right after its first unit committed, before it is journaled."""
    killed = subprocess.run(
        [sys.executable, "-c", _KILL_AT_FIRST_MARK, "copy", *args, "-q"],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert killed.returncode == -signal.SIGKILL, show(killed)
