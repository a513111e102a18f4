"""Reading ahead: a unit's batches are produced on a thread while earlier ones are written."""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterator
from typing import TypeVar

T = TypeVar("T")
_END = object()


def prefetch(items: Iterator[T], depth: int = 4) -> Iterator[T]:
    """Yield ``items`` while a background thread reads up to ``depth`` ahead.

    Errors raised by ``items`` are re-raised here; closing this generator stops the reader.
    """
    buffer: queue.Queue[object] = queue.Queue(maxsize=depth)
    closed = threading.Event()

    def produce() -> None:
        try:
            for item in items:
                while not closed.is_set():
                    try:
                        buffer.put(item, timeout=0.1)
                        break
                    except queue.Full:
                        continue
                if closed.is_set():
                    return
            buffer.put(_END)
        except BaseException as exc:  # handed to the consumer
            buffer.put(exc)

    reader = threading.Thread(target=produce, name="mlmigrate-read", daemon=True)
    reader.start()
    try:
        while True:
            item = buffer.get()
            if item is _END:
                return
            if isinstance(item, BaseException):
                raise item
            yield item  # type: ignore[misc]
    finally:
        closed.set()
        reader.join(timeout=5)
