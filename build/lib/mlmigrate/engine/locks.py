"""One copy of a (source, destination) pair at a time.

Two copies of one pair at once (a second started by cron, say) would both plan and
write the same units and leave the journal saying one thing and the destination
another. Each copy holds an exclusive lock on a file named by the pair's key, in a
folder that does not depend on the working folder or the state folder; a second copy
is refused, naming the one that runs. The kernel releases the lock when its holder
exits, however it ends (even by SIGKILL), so a stale lock never blocks a resume.
"""

from __future__ import annotations

import fcntl
import json
import os
import tempfile
import time
from pathlib import Path

from mlmigrate.engine.journal import pair_key
from mlmigrate.exceptions import JournalError
from mlmigrate.uris import mask


def lock_dir() -> Path:
    """Where the pairs' lock files live: ``$MLMIGRATE_LOCK_DIR`` or a folder in the temp dir."""
    folder = Path(os.environ.get("MLMIGRATE_LOCK_DIR") or Path(tempfile.gettempdir()) / "mlmigrate-locks")
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    return folder


class PairLock:
    """The exclusive lock of one (source, destination) pair, held while a copy runs."""

    def __init__(self, source_uri: str, destination_uri: str):
        self.path = lock_dir() / f"{pair_key(source_uri, destination_uri)}.lock"
        self._description = f"{mask(source_uri)} -> {mask(destination_uri)}"
        self._fd: int | None = None

    def acquire(self) -> None:
        """Take the lock, or raise :class:`JournalError` naming the copy that holds it."""
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _holder(fd)
            os.close(fd)
            raise JournalError(
                f"another copy of {self._description} is running{holder}; wait for it to end, "
                "or stop it, then run this command again (it resumes)"
            ) from None
        os.ftruncate(fd, 0)
        os.write(fd, json.dumps({"pid": os.getpid(), "started": time.time()}).encode())
        self._fd = fd

    def release(self) -> None:
        """Let the next copy of the pair run."""
        if self._fd is not None:
            os.close(self._fd)  # closing the descriptor releases the lock
            self._fd = None


def _holder(fd: int) -> str:
    try:
        info = json.loads(os.pread(fd, 4096, 0) or b"{}")
        started = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(float(info["started"])))
        return f" (process {int(info['pid'])}, since {started})"
    except (OSError, ValueError, KeyError, TypeError):
        return ""
