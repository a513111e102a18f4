"""A helper process that reads units back from the destination, spoken to over pipes.

It does what a one-worker ``ProcessPoolExecutor`` would, without the pool's queues: their
locks are semaphores that multiprocessing's resource tracker keeps, and a tracker killed
mid-copy (an out-of-memory killer, a cleanup script) comes back as a new one that prints a
``KeyError`` traceback for every semaphore it never saw. Pipes hold no such names.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import threading
from concurrent.futures import Future, InvalidStateError
from concurrent.futures.process import BrokenProcessPool
from typing import Any

from mlmigrate.engine.helper_process import main_left_out, portable, start_helper


def _serve(requests: Any, answers: Any, parent: int) -> None:
    """Helper process: answer each ``(key, function, args)`` with ``(key, ok, value)`` until the
    requests end."""
    start_helper(parent)
    while True:
        try:
            request = requests.recv()
        except (EOFError, OSError):
            return
        if request is None:
            return
        key, function, args = request
        try:
            answer: tuple[Any, ...] = (key, True, function(*args))
        except BaseException as exc:  # handed back to the caller, whose future raises it
            answer = (key, False, portable(exc))
        try:
            answers.send(answer)
        except (OSError, EOFError):
            return


class ReadBackProcess:
    """One helper process running submitted functions in order; each call returns a
    :class:`~concurrent.futures.Future`. A helper that dies fails what it had not answered with
    :class:`~concurrent.futures.process.BrokenProcessPool`, as a process pool would."""

    def __init__(self) -> None:
        context = multiprocessing.get_context("spawn")
        requests, self._requests = context.Pipe(duplex=False)
        self._answers, answers = context.Pipe(duplex=False)
        self._process = context.Process(
            target=_serve, args=(requests, answers, os.getpid()), name="mlmigrate-verifier", daemon=True
        )
        with main_left_out():
            self._process.start()
        requests.close()
        answers.close()  # the helper holds the only write end: its death ends the pipe
        self._lock = threading.Lock()
        self._pending: dict[int, Future[Any]] = {}
        self._next = 0
        self._broken = False
        threading.Thread(target=self._collect, name="mlmigrate-verifier-answers", daemon=True).start()

    def submit(self, function: Any, *args: Any) -> Future[Any]:
        """Run ``function(*args)`` in the helper (both picklable)."""
        future: Future[Any] = Future()
        with self._lock:
            if self._broken:
                raise BrokenProcessPool("the verifier's helper process died")
            key, self._next = self._next, self._next + 1
            self._pending[key] = future
            try:
                self._requests.send((key, function, args))
            except OSError:
                self._pending.pop(key)
                self._broken = True
                raise BrokenProcessPool("the verifier's helper process died") from None
        return future

    def _collect(self) -> None:
        """Hand each answer to its future; when the pipe ends, fail every one left."""
        while True:
            try:
                key, ok, value = self._answers.recv()
            except (EOFError, OSError, ValueError):
                break
            with self._lock:
                future = self._pending.pop(key, None)
            if future is not None:
                with contextlib.suppress(InvalidStateError):  # cancelled meanwhile
                    (future.set_result if ok else future.set_exception)(value)
        with self._lock:
            self._broken = True
            left, self._pending = list(self._pending.values()), {}
        for future in left:
            with contextlib.suppress(InvalidStateError):
                future.set_exception(BrokenProcessPool("the verifier's helper process died"))

    def shutdown(self) -> None:
        """Stop the helper: at once when calls are left unanswered (they are cancelled; it only
        reads), else once it has read its last request."""
        with self._lock:
            left = list(self._pending.values())
        for future in left:
            future.cancel()
        if left:
            self._process.terminate()
        else:
            with contextlib.suppress(OSError):
                self._requests.send(None)
        self._process.join(timeout=30)
        if self._process.is_alive():
            self._process.kill()
            self._process.join(timeout=5)
        self._requests.close()
