"""Tying a helper process's life to its parent's, so a killed copy leaves no orphan behind."""

from __future__ import annotations

import os
import signal
import threading
import time

#: how often the fallback watch looks for the parent (the kernel's signal usually comes first)
POLL_SECONDS = 1.0


def exit_with_parent(parent: int) -> None:
    """End this process as soon as ``parent`` is gone (killed, say): nobody will read what it
    sends, and it must not hold the parent's output pipes open."""
    try:  # Linux: the kernel kills us when the parent dies
        import ctypes

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(POLL_SECONDS)
        os._exit(0)

    threading.Thread(target=watch, name="mlmigrate-parent-watch", daemon=True).start()
