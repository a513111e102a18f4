"""Run the mlmigrate CLI in a child process that SIGKILLs itself at an exact point."""

from __future__ import annotations

import signal
import subprocess
import sys

from cli_helpers import show

#: Kills the process the first time the journal method named in argv[1] is called: ``mark``
#: (a unit's write has committed in the destination, the journal does not know it yet) or
#: ``save_scope`` (the same, for the first unit merged into an existing experiment or model).
_KILL_AT_FIRST = """
import os, signal, sys
from mlmigrate.engine.journal import Journal

def die(*args, **kwargs):
    os.kill(os.getpid(), signal.SIGKILL)

setattr(Journal, sys.argv[1], die)
from mlmigrate.cli import main
sys.argv = ["mlmigrate", *sys.argv[2:]]
main()
"""


def copy_killed_after_first_commit(*args: str, merged: bool = False) -> None:
    """``mlmigrate copy ARGS``, killed right after its first unit (``merged``: its first unit merged
    into an existing one) committed, before the journal records it."""
    where = "save_scope" if merged else "mark"
    killed = subprocess.run(
        [sys.executable, "-c", _KILL_AT_FIRST, where, "copy", *args, "-q"],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert killed.returncode == -signal.SIGKILL, show(killed)
