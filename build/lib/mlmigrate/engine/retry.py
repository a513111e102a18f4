"""How long a transient failure (a dropped connection, a restarting or busy server) is retried.

A unit that fails with :class:`~mlmigrate.exceptions.TransientStoreError` is tried again
after a back-off that doubles from ``first_delay`` up to ``max_delay``, for as long as the
retry window lasts, counted from its first failure. A PostgreSQL restart takes 2–10 s, a
managed database's fail-over about a minute: the default window of 120 s rides out both.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from mlmigrate.exceptions import TransientStoreError, UsageError

T = TypeVar("T")

DEFAULT_WINDOW = 120.0


@dataclass(frozen=True)
class RetryPolicy:
    """The retry window of transient failures, in seconds, and its back-off."""

    window: float = DEFAULT_WINDOW
    first_delay: float = 0.5
    max_delay: float = 8.0

    def __post_init__(self) -> None:
        if not self.window >= 0:  # also refuses NaN
            raise UsageError(f"--retry-window {self.window} is not valid; give seconds, 0 or more")

    def delay(self, attempt: int) -> float:
        """The pause after failed attempt number ``attempt`` (1 for the first)."""
        return min(self.first_delay * 2 ** (attempt - 1), self.max_delay)

    def run(
        self,
        attempt: Callable[[], T],
        *,
        stop: threading.Event | None = None,
        on_retry: Callable[[int, float, TransientStoreError], None] | None = None,
    ) -> T:
        """Call ``attempt`` until it returns, retrying :class:`TransientStoreError` while the
        window lasts; ``stop`` (set on Ctrl-C) ends the waiting at once and re-raises.
        ``on_retry(attempt, pause, error)`` is told of each retry before its pause."""
        deadline: float | None = None
        number = 0
        while True:
            number += 1
            try:
                return attempt()
            except TransientStoreError as error:
                now = time.monotonic()
                deadline = now + self.window if deadline is None else deadline
                pause = min(self.delay(number), max(deadline - now, 0.0))
                if pause <= 0 or (stop is not None and stop.is_set()):
                    raise
                if on_retry is not None:
                    on_retry(number, pause, error)
                if stop is not None:
                    if stop.wait(pause):
                        raise
                else:
                    time.sleep(pause)
