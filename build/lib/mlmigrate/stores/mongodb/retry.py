"""Writing documents through request-rate throttling (Cosmos DB error 16500 / 429).

Cosmos DB's MongoDB API answers a request over the provisioned rate with error 16500
(``TooManyRequests``, HTTP 429) and a ``RetryAfterMs=N`` hint in the message. Unordered
bulk writes then fail only for some documents; those are sent again after the hint (or
an exponential backoff) in smaller batches. A retried document keeps the ``_id`` pymongo
gave it, so a duplicate-key reply during a retry for a document whose ``_id`` is there means
an earlier attempt stored it.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from mlmigrate.exceptions import TransientStoreError

THROTTLE_CODES = frozenset({16500, 429})
DUPLICATE_KEY = 11000
_RETRY_AFTER = re.compile(r"RetryAfterMs=(\d+)", re.IGNORECASE)


@dataclass(frozen=True)
class RetryPolicy:
    """How often and how long to wait when the server throttles."""

    attempts: int = 8
    base_delay: float = 0.05
    max_delay: float = 5.0

    def delay(self, attempt: int, hint: float | None) -> float:
        """Seconds to wait before retry ``attempt`` (1-based): the server's hint, else backoff."""
        backoff = min(self.max_delay, self.base_delay * 2 ** (attempt - 1))
        return min(self.max_delay, max(hint, 0.0)) if hint is not None else backoff


def retry_after(error: Any) -> float | None:
    """Seconds the server asked to wait (``RetryAfterMs=N`` in a message), if it said."""
    texts = [str(error)]
    if isinstance(error, dict):
        texts = [str(error.get("errmsg", "")), str(error.get("errInfo", ""))]
    for text in texts:
        match = _RETRY_AFTER.search(text)
        if match:
            return int(match.group(1)) / 1000.0
    return None


def _code(error: Any) -> int | None:
    if isinstance(error, dict):
        return error.get("code")
    return getattr(error, "code", None)


def is_throttled(error: Any) -> bool:
    """Whether a pymongo error (or one write error of a bulk reply) is request-rate throttling."""
    if _code(error) in THROTTLE_CODES:
        return True
    text = str(error.get("errmsg", "")) if isinstance(error, dict) else str(error)
    return "TooManyRequests" in text or "Request rate is large" in text


@dataclass
class WriteStats:
    """What throttling cost a write: retries, time slept, the batch size it ended with."""

    retries: int = 0
    slept: float = 0.0
    batch_size: int = 0


def write_in_batches(
    send: Callable[[Sequence[Any]], None],
    items: Sequence[Any],
    *,
    batch_size: int,
    policy: RetryPolicy,
    stats: WriteStats | None = None,
    sleep: Callable[[float], None] = time.sleep,
    stored: Callable[[Any], bool] | None = None,
) -> None:
    """Send ``items`` with ``send`` (an unordered ``insert_many``/``bulk_write``) in batches,
    retrying the throttled part of each batch and halving the batch size after a throttle.

    ``stored(item)`` says whether an item sent again, and refused as a duplicate key, is in
    fact already there (an earlier attempt stored it but its acknowledgement was lost)."""
    from pymongo.errors import BulkWriteError, OperationFailure

    stats = stats if stats is not None else WriteStats()
    size = max(1, batch_size)
    position = 0
    while position < len(items):
        pending: Sequence[Any] = items[position : position + size]
        position += len(pending)
        attempt = 0
        while pending:
            try:
                send(pending)
                pending = []
                continue
            except BulkWriteError as exc:
                errors = exc.details.get("writeErrors", [])
                if exc.details.get("writeConcernErrors"):
                    raise
                throttled = [e for e in errors if is_throttled(e)]
                replayed = [
                    e
                    for e in errors
                    if attempt > 0
                    and e.get("code") == DUPLICATE_KEY
                    and stored
                    and stored(pending[e["index"]])
                ]
                if len(throttled) + len(replayed) != len(errors):
                    raise
                if not throttled:  # every failure was a replay: all stored
                    pending = []
                    continue
                hint = max((h for e in throttled if (h := retry_after(e)) is not None), default=None)
                pending = [pending[e["index"]] for e in throttled]
            except OperationFailure as exc:
                if not is_throttled(exc):
                    raise
                hint = retry_after(exc)
            attempt += 1
            if attempt >= policy.attempts:
                raise TransientStoreError(
                    f"the server kept throttling writes after {attempt} attempts (error 16500/429)"
                )
            wait = policy.delay(attempt, hint)
            stats.retries += 1
            stats.slept += wait
            sleep(wait)
            size = max(1, size // 2)
            if len(pending) > size:  # send the rest again later, in smaller batches
                items = [*items[:position], *pending[size:], *items[position:]]
                pending = pending[:size]
    stats.batch_size = size
