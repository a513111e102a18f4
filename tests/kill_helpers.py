"""Run the mlmigrate CLI in a child process that SIGKILLs itself at an exact point."""

from __future__ import annotations

import signal
import subprocess
import sys

from cli_helpers import show

#: Kills the process at the n-th (argv[2]) call of the journal method named in argv[1] that
#: records a unit as done: ``mark`` (a unit's write, or a group's, has committed in the
#: destination, the journal does not know it yet: ``mark`` and ``mark_done``) or ``save_scope``
#: (the same, for a unit merged into an existing experiment or model).
_KILL_AT = """
import os, signal, sys
from mlmigrate.engine.journal import Journal

where, nth = sys.argv[1], int(sys.argv[2])
seen = 0

def killing(name):
    original = getattr(Journal, name)

    def die_at_nth(self, *args, **kwargs):
        global seen
        done = args[2:3] == ("done",) or kwargs.get("state") == "done"
        if name in ("save_scope", "mark_done") or done:
            seen += 1
            if seen == nth:
                os.kill(os.getpid(), signal.SIGKILL)
        return original(self, *args, **kwargs)

    setattr(Journal, name, die_at_nth)

for name in ("mark", "mark_done") if where == "mark" else (where,):
    if not hasattr(Journal, name):
        raise SystemExit(f"Journal has no {name}: nothing would be killed")
    killing(name)
from mlmigrate.cli import main
sys.argv = ["mlmigrate", *sys.argv[3:]]
main()
"""


def copy_killed_after_commit(*args: str, nth: int = 1, merged: bool = False) -> None:
    """``mlmigrate copy ARGS``, killed right after its ``nth`` unit (``merged``: its ``nth`` unit
    merged into an existing one) committed, before the journal records it."""
    where = "save_scope" if merged else "mark"
    killed = subprocess.run(
        [sys.executable, "-c", _KILL_AT, where, str(nth), "copy", *args, "-q"],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert killed.returncode == -signal.SIGKILL, show(killed)


def copy_killed_after_first_commit(*args: str, merged: bool = False) -> None:
    """``mlmigrate copy ARGS``, killed right after its first unit committed (see
    :func:`copy_killed_after_commit`)."""
    copy_killed_after_commit(*args, nth=1, merged=merged)
