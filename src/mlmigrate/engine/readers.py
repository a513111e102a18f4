"""Reading units in helper processes, so parsing the source runs beside writing.

The helpers start before the plan exists, so that starting Python and importing
the source's driver happen while the plan is made. Each is then handed its share
of the plan's units and reads them in order, so it is already reading the next
unit while the writer finishes the current one. Batches cross the process boundary as Arrow buffers through a
bounded queue (memory stays bounded by a few batches), already shaped for the
destination and digested. Each helper opens the source itself from its URI:
stores assume nothing about the process they run in.

Each helper answers on a pipe whose write end only the helper holds, read by a pump
thread into a bounded queue. A helper that dies (killed, out of memory), even half-way
through a message, so ends its pipe: the pump sees the end of the stream and the unit
being read fails at once with a clear error, instead of a receive that waits forever
for the rest of a message.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import pickle
import queue
import threading
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from mlmigrate.artifacts.rewrite import UriRewrite
from mlmigrate.column_limits import check_lengths, check_no_nul
from mlmigrate.digest import Digest
from mlmigrate.engine.helper_process import main_left_out, portable, start_helper
from mlmigrate.engine.history_order import HistoryOrder
from mlmigrate.engine.prefetch import prefetch
from mlmigrate.engine.transform import Scope, Shaping, for_destination, reading
from mlmigrate.exceptions import MigrationError
from mlmigrate.references import describe, referenced
from mlmigrate.stores.base import BatchStream, SourceStore, Unit

#: messages a helper may send ahead of the writer
DEPTH = 16
_POLL = 0.2


@dataclass
class UnitResult:
    """What reading a unit produced besides its batches: digests, collapsed duplicates, rows
    left out (per reason and table) and the ids it brought."""

    digests: dict[str, Digest] = field(default_factory=dict)
    collapsed: Counter[str] = field(default_factory=Counter)
    #: rows read and not written, per reason (``report.NOT_HELD`` …) and table
    left_out: dict[str, Counter[str]] = field(default_factory=dict)
    #: the ids the unit brought (what a merged destination unit holds of it)
    scope: Scope = field(default_factory=Scope)
    #: non-finite floats mapped for a destination that cannot hold them, per table
    made_finite: Counter[str] = field(default_factory=Counter)
    #: (kind, uri) of the artifact locations the unit's source rows reference
    artifacts: list[tuple[str, str]] = field(default_factory=list)
    #: the ids its shaped values reference, per reference (:func:`mlmigrate.references.describe`)
    references: dict[str, set[str]] = field(default_factory=dict)

    def take(self, other: UnitResult) -> None:
        """Add what ``other`` (the same unit read in a helper process) produced."""
        self.digests.update(other.digests)
        self.collapsed.update(other.collapsed)
        self.left_out.update(other.left_out)
        self.scope = other.scope
        self.made_finite.update(other.made_finite)
        self.artifacts += other.artifacts
        for name, ids in other.references.items():
            self.references.setdefault(name, set()).update(ids)


@dataclass(frozen=True)
class UnitTask:
    """A unit to read, the id it has in the destination and how its artifact URIs change."""

    unit: Unit
    dest_id: str
    shaping: Shaping = field(default_factory=Shaping)
    #: map ±inf/NaN floats (the destination cannot hold them; ``Capabilities.holds_infinity``)
    finite_floats: bool = False
    #: source -> destination experiment ids that change, for references outside the canonical tables
    experiment_ids: tuple[tuple[str, str], ...] = ()
    rewrite: UriRewrite | None = None
    #: refuse text longer than MLflow's SQL column holds (``Capabilities.enforces_lengths``)
    check_lengths: bool = False
    #: refuse text holding NUL characters (``Capabilities.holds_nul``)
    refuse_nul: bool = False
    #: digest the order of metric histories too (both stores keep it: ``ordered_histories``)
    ordered_histories: bool = False


def read_shaped(source: SourceStore, task: UnitTask, result: UnitResult) -> BatchStream:
    """A unit's batches shaped for the destination, digested into ``result`` as they pass."""
    stream = for_destination(
        source.read_unit(reading(task.unit, task.shaping)),
        unit_kind=task.unit.kind,
        dest_id=task.dest_id,
        collapsed=result.collapsed,
        shaping=task.shaping,
        left_out=result.left_out,
        made_finite=result.made_finite if task.finite_floats else None,
        experiment_ids=dict(task.experiment_ids),
        rewrite=task.rewrite,
        artifacts=result.artifacts,
    )
    order = HistoryOrder() if task.ordered_histories else None
    for table, batch in stream:
        if task.check_lengths:
            check_lengths(table, batch)
        if task.refuse_nul:
            check_no_nul(table, batch)
        result.digests.setdefault(table, Digest()).add(batch)
        places = order.places(table, batch) if order is not None else None
        if places is not None:
            result.digests.setdefault(places[0], Digest()).add(places[1])
        result.scope.collect(table, batch)
        for reference, ids in referenced(table, batch).items():
            result.references.setdefault(describe(reference), set()).update(ids)
        yield table, batch


def _serve(source_uri: str, inbox: Any, answers: Any, parent: int) -> None:
    """Helper process: open the source, wait for (snapshot, tasks), then read each task's unit
    in order and stream it back, tagged with its id."""
    start_helper(parent)
    from mlmigrate.stores import open_store

    results = _Sender(answers)
    failure: BaseException | None = None
    try:
        source = open_store(source_uri)
    except BaseException as exc:
        failure = exc
    try:
        snapshot, tasks = inbox.recv()
    except (EOFError, OSError):  # the copy ended before it had units to hand out
        return
    try:
        if failure is not None:
            raise failure
        if snapshot is not None:  # read the state the runner pinned, like every other reader
            source.use_snapshot(snapshot)
    except BaseException as exc:  # every unit fails with the reason
        for task in tasks:
            results.put((task.unit.unit_id, "error", portable(exc)))
        return
    for task in tasks:
        result = UnitResult()
        unit_id = task.unit.unit_id
        try:
            for table, batch in read_shaped(source, task, result):
                results.put((unit_id, "batch", (table, batch)))
            results.put((unit_id, "end", result))
        except BaseException as exc:  # handed to the parent, which decides
            results.put((unit_id, "error", portable(exc)))


class _Sender:
    """The helper's end of its pipe: ``put`` sends one message (blocking while the pipe is full)."""

    def __init__(self, connection: Any):
        self.connection = connection

    def put(self, message: tuple[Any, ...]) -> None:
        self.connection.send(message)


#: the pump's last message: the helper's pipe ended (the helper exited or died)
_ENDED = ("", "ended", None)


class _Helper:
    """One helper process, the queue it answers on, and whose turn it is to read from it.

    Its units come back in task order, so their writers take turns in that order: the
    writer of the next unit waits until the writer of the one before has finished or
    given up (whose leftover messages it then skips).
    """

    def __init__(self, source_uri: str):
        context = multiprocessing.get_context("spawn")
        self.results: queue.Queue[tuple[Any, ...]] = queue.Queue(maxsize=DEPTH)
        # pipes, not queues: a queue's locks are semaphores the resource tracker keeps, and a
        # tracker killed and started again prints a traceback for each it never saw
        inbox, self._inbox = context.Pipe(duplex=False)
        receiver, sender = context.Pipe(duplex=False)
        self.process = context.Process(
            target=_serve,
            args=(source_uri, inbox, sender, os.getpid()),
            name="mlmigrate-reader",
            daemon=True,
        )
        with main_left_out():
            self.process.start()
        inbox.close()
        sender.close()  # the helper holds the only write end: its death ends the pipe
        self._receiver = receiver
        self._closed = threading.Event()
        threading.Thread(target=self._pump, name="mlmigrate-reader-pump", daemon=True).start()
        self.order: list[str] = []
        self.turn = 0
        self.turns = threading.Condition()

    def assign(self, tasks: list[UnitTask], snapshot: str | None) -> None:
        """Hand the helper its units, to read in this order from ``snapshot``."""
        self.order = [task.unit.unit_id for task in tasks]
        with contextlib.suppress(OSError):  # a helper that is gone says so in its stream
            self._inbox.send((snapshot, tasks))

    def stream(self, unit_id: str, result: UnitResult) -> Iterator[tuple[str, Any]]:
        """The unit's batches, once the units before it on this helper are done with."""
        position = self.order.index(unit_id)
        with self.turns:
            self.turns.wait_for(lambda: self.turn >= position)
        try:
            while True:
                owner, kind, payload = self._next_message()
                if owner != unit_id:  # the tail of an earlier unit whose writer gave up
                    continue
                if kind == "batch":
                    yield payload
                elif kind == "end":
                    result.take(payload)
                    return
                else:
                    raise payload
        finally:
            self.done(unit_id)

    def done(self, unit_id: str) -> None:
        """Let the writer of the next unit read: this unit's writer finished or gave up."""
        position = self.order.index(unit_id)
        with self.turns:
            self.turn = max(self.turn, position + 1)
            self.turns.notify_all()

    def _pump(self) -> None:
        """Move the helper's messages from its pipe into the bounded queue until the pipe ends."""
        message: tuple[Any, ...]
        while True:
            try:
                message = self._receiver.recv()
            except (EOFError, OSError, pickle.UnpicklingError):  # cut off, even mid-message
                message = _ENDED
            while not self._closed.is_set():
                try:
                    self.results.put(message, timeout=_POLL)
                    break
                except queue.Full:
                    continue
            if message is _ENDED or self._closed.is_set():
                return

    def _next_message(self) -> tuple[Any, ...]:
        message = self.results.get()
        if message is _ENDED:
            self.results.put(_ENDED)  # for any other writer still reading this helper
            self.process.join(timeout=1)
            code = self.process.exitcode
            how = f" (exit code {code})" if code else ""
            raise MigrationError(
                f"a reader process died unexpectedly{how}; run the same command again to resume"
            )
        return message

    def close(self) -> None:
        self._closed.set()
        if self.process.is_alive():
            self.process.terminate()
        self.process.join(timeout=5)
        self._inbox.close()
        self._receiver.close()
        with self.turns:  # release any writer still waiting for its turn
            self.turn = len(self.order)
            self.turns.notify_all()


class ReaderPool:
    """Helper processes reading the plan's units ahead of the runner's writers.

    Started before the plan, they get their units with :meth:`assign`: unit *i* of
    the tasks is read by helper ``i % helpers``. Writers should ask for units in plan
    order, as the runner does; a unit asked for again (a retry) is read in this
    process instead.
    """

    def __init__(self, source: SourceStore, source_uri: str, *, processes: int):
        self._source = source
        self._helpers = [_Helper(source_uri) for _ in range(max(1, processes))]
        self._owner: dict[str, _Helper] = {}
        self._taken: set[str] = set()
        self._lock = threading.Lock()

    def assign(self, tasks: list[UnitTask], snapshot: str | None = None) -> None:
        """Hand out the plan's units (helpers left without one stop), to read from ``snapshot``."""
        count = max(1, min(len(self._helpers), len(tasks)))
        for index, helper in enumerate(self._helpers):
            helper.assign(tasks[index::count] if index < count else [], snapshot)
        self._owner = {task.unit.unit_id: self._helpers[i % count] for i, task in enumerate(tasks)}

    def read(self, task: UnitTask, result: UnitResult) -> Iterator[tuple[str, Any]]:
        """Stream a unit's shaped batches; ``result`` is filled when the stream ends."""
        unit_id = task.unit.unit_id
        with self._lock:
            helper = None if unit_id in self._taken else self._owner.get(unit_id)
            self._taken.add(unit_id)
        if helper is None:
            yield from prefetch(read_shaped(self._source, task, result))
        else:
            yield from helper.stream(unit_id, result)

    def done(self, unit_id: str) -> None:
        """The writer of ``unit_id`` is finished with it (even if it never read it)."""
        helper = self._owner.get(unit_id)
        if helper is not None:
            helper.done(unit_id)

    def close(self) -> None:
        """Stop every helper."""
        for helper in self._helpers:
            helper.close()
