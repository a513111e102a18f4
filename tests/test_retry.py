"""The retry window of transient failures: how long, how often, and Ctrl-C ends the wait."""

from __future__ import annotations

import threading
import time

import pytest

from mlmigrate.engine.retry import RetryPolicy
from mlmigrate.exceptions import TransientStoreError, UsageError


def _always_down() -> None:
    raise TransientStoreError("connection refused")


def test_retries_end_when_the_window_is_spent() -> None:
    tries: list[float] = []

    def attempt() -> None:
        tries.append(time.monotonic())
        _always_down()

    started = time.monotonic()
    with pytest.raises(TransientStoreError):
        RetryPolicy(window=0.6, first_delay=0.1, max_delay=0.2).run(attempt)

    assert 0.55 < time.monotonic() - started < 3.0
    assert 4 <= len(tries) <= 5  # pauses 0.1, 0.2, 0.2, then what is left of the window


def test_a_success_after_failures_is_returned() -> None:
    outcomes = iter([TransientStoreError("down"), TransientStoreError("down"), "written"])

    def attempt() -> str:
        outcome = next(outcomes)
        if isinstance(outcome, Exception):
            raise outcome
        return outcome

    assert RetryPolicy(window=5, first_delay=0.01).run(attempt) == "written"


def test_a_stop_ends_the_pause_at_once() -> None:
    stop = threading.Event()
    threading.Timer(0.1, stop.set).start()
    started = time.monotonic()
    with pytest.raises(TransientStoreError):
        RetryPolicy(window=60, first_delay=30).run(_always_down, stop=stop)
    assert time.monotonic() - started < 2


@pytest.mark.parametrize("window", [-1.0, float("nan")])
def test_a_negative_or_nan_window_is_a_usage_error(window: float) -> None:
    with pytest.raises(UsageError, match="--retry-window"):
        RetryPolicy(window=window)
