"""Connections kept open between write transactions.

Opening a connection costs more than writing a small unit: PostgreSQL starts a
backend process, and PyMySQL builds a TLS context for its preferred-TLS mode
(about 20 ms). A connection that ended its transaction cleanly is kept here for the
next one; one that failed is closed instead, so a broken link is never reused.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Iterator
from typing import Any


class IdleConnections:
    """A few open connections, outside any transaction, waiting for the next one."""

    def __init__(self, limit: int = 4):
        self._limit = limit
        self._idle: list[Any] = []
        self._lock = threading.Lock()

    def take(self) -> Any | None:
        """An idle connection, or None when there is none."""
        with self._lock:
            return self._idle.pop() if self._idle else None

    def give(self, connection: Any) -> None:
        """Keep ``connection`` (its transaction ended cleanly) for a later transaction."""
        with self._lock:
            if len(self._idle) < self._limit:
                self._idle.append(connection)
                return
        connection.close()

    @contextlib.contextmanager
    def lent(self, connect: Callable[[], Any]) -> Iterator[Any]:
        """An idle connection, or a new one from ``connect``: kept again when the block ends
        without error (its transaction ended there), closed when it raises."""
        connection = self.take() or connect()
        try:
            yield connection
        except BaseException:
            with contextlib.suppress(Exception):  # a link that is already gone
                connection.close()
            raise
        self.give(connection)

    def close(self) -> None:
        """Close every idle connection."""
        with self._lock:
            idle, self._idle = self._idle, []
        for connection in idle:
            with contextlib.suppress(Exception):  # a link that is already gone
                connection.close()
