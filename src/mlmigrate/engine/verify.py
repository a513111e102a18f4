"""Comparing a destination with what was written: counts and digests per unit and table."""

from __future__ import annotations

import threading
from collections import Counter
from concurrent.futures import Future, ThreadPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool as BrokenExecutor
from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa

from mlmigrate.artifacts.rewrite import UriRewrite
from mlmigrate.digest import Digest
from mlmigrate.engine.history_order import HistoryOrder, is_order_table
from mlmigrate.engine.read_back_process import ReadBackProcess
from mlmigrate.engine.retry import RetryPolicy
from mlmigrate.engine.transform import Scope, Shaping, for_destination, reading
from mlmigrate.references import ReferenceCheck
from mlmigrate.stores.base import BatchStream, DestinationStore, SourceStore, Unit


@dataclass
class VerifyResult:
    """Per-table totals on both sides and every (unit, table) that differs."""

    tables: dict[str, dict[str, int]] = field(default_factory=dict)
    mismatches: list[dict[str, Any]] = field(default_factory=list)
    units_checked: int = 0
    #: ``verify --artifacts``: objects checked per kind and the artifact mismatches
    artifacts: dict[str, Any] | None = None
    #: references to experiments that dangled in the source already (copied as they were)
    dangling_in_source: list[dict[str, str]] = field(default_factory=list)
    #: references to objects of the source that this copy left out on purpose (skipped units,
    #: rejected runs, a subset): said, not mismatches
    dangling_left_out: list[dict[str, str]] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True when nothing differs."""
        return not self.mismatches

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "ok": self.ok,
            "units_checked": self.units_checked,
            "tables": self.tables,
            "mismatches": self.mismatches,
            "artifacts": self.artifacts,
            "dangling_in_source": self.dangling_in_source,
            "dangling_left_out": self.dangling_left_out,
        }


def digest_stream(stream: BatchStream, *, ordered: bool = False) -> dict[str, Digest]:
    """Digest every table of a unit's stream; ``ordered``: also the order of its metric
    histories (:mod:`mlmigrate.engine.history_order`), for stores where that order is data."""
    digests: dict[str, Digest] = {}
    order = HistoryOrder() if ordered else None
    for table, batch in stream:
        digests.setdefault(table, Digest()).add(batch)
        places = order.places(table, batch) if order is not None else None
        if places is not None:
            digests.setdefault(places[0], Digest()).add(places[1])
    return digests


def scoped(stream: BatchStream, scope: Scope) -> BatchStream:
    """Only the rows of ``stream`` that ``scope`` (a merged unit) brought."""
    for table, batch in stream:
        kept = scope.within(table, batch)
        if kept is not None and kept.num_rows:
            yield table, kept


def source_digests(
    source: SourceStore,
    unit: Unit,
    dest_id: str,
    shaping: Shaping | None = None,
    *,
    finite_floats: bool = False,
    experiment_ids: dict[str, str] | None = None,
    rewrite: UriRewrite | None = None,
    artifacts: list[tuple[str, str]] | None = None,
    values: ReferenceCheck | None = None,
    ordered: bool = False,
) -> dict[str, Digest]:
    """Digests of a source unit as it must look in the destination: shaped as the copy shaped
    it (``finite_floats``: one without ±inf, where they are ±max float; ``experiment_ids``: ids
    that change; artifact URIs rewritten as the migration rewrote them); ``artifacts`` collects
    the locations it references and ``values`` the experiment ids its values hold; ``ordered``:
    the order of its metric histories too."""
    stream = shaped_source(
        source,
        unit,
        dest_id,
        shaping,
        finite_floats=finite_floats,
        experiment_ids=experiment_ids,
        rewrite=rewrite,
        artifacts=artifacts,
    )
    return digest_stream(stream if values is None else values.watch(unit.unit_id, stream), ordered=ordered)


def shaped_source(
    source: SourceStore,
    unit: Unit,
    dest_id: str,
    shaping: Shaping | None = None,
    *,
    finite_floats: bool = False,
    experiment_ids: dict[str, str] | None = None,
    rewrite: UriRewrite | None = None,
    artifacts: list[tuple[str, str]] | None = None,
) -> BatchStream:
    """A source unit's rows as they must look in the destination (see :func:`source_digests`)."""
    return for_destination(
        source.read_unit(reading(unit, shaping or Shaping())),
        unit_kind=unit.kind,
        dest_id=dest_id,
        collapsed=Counter(),
        shaping=shaping,
        made_finite=Counter() if finite_floats else None,
        experiment_ids=experiment_ids,
        rewrite=rewrite,
        artifacts=artifacts,
    )


def name_differences(
    result: VerifyResult, unit_id: str, source: BatchStream, destination: BatchStream
) -> None:
    """Add to ``unit_id``'s mismatches in ``result`` the places (run, key, step …) whose rows
    differ, from both sides' rows of the unit (``verify`` re-reads them for a unit that differs)."""
    from mlmigrate.engine.differences import collect, describe, differing_places

    items = [m for m in result.mismatches if m.get("unit") == unit_id and m.get("table") not in (None, "*")]
    tables = {m["table"] for m in items}
    mine, theirs = collect(source, tables), collect(destination, tables)
    for item in items:
        left, right = mine.get(item["table"]), theirs.get(item["table"])
        if left is None or right is None:
            continue  # one side holds none of the table's rows: the counts say it all
        try:
            found = differing_places(item["table"], left, right)
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError, KeyError):
            continue  # columns of other types on each side: the digest mismatch stands unnamed
        item["places"] = found["places"]
        if found["places"]:
            more = f" and {found['more']} more" if found["more"] else ""
            item["problem"] = f"{item['problem']}: {describe(found['places'])}{more}"


def compare_unit(
    result: VerifyResult, unit_id: str, expected: dict[str, dict[str, Any]], actual: dict[str, Digest]
) -> bool:
    """Fold one unit's expected (source) and actual (destination) digests into ``result``. The
    order of histories is compared where both sides have it (both stores keep that order)."""
    result.units_checked += 1
    ok = True
    for table in sorted(set(expected) | set(actual)):
        if is_order_table(table) and not (table in expected and table in actual):
            continue
        want = expected.get(table, {"rows": 0, "digest": Digest().hex})
        got = actual.get(table, Digest()).as_dict()
        totals = result.tables.setdefault(table, {"source": 0, "destination": 0})
        totals["source"] += int(want["rows"])
        totals["destination"] += int(got["rows"])
        if want["rows"] != got["rows"] or want["digest"] != got["digest"]:
            ok = False
            if is_order_table(table):
                problem = "the order of points in a history differs"
            else:
                problem = "row counts differ" if want["rows"] != got["rows"] else "contents differ"
            result.mismatches.append(
                {
                    "unit": unit_id,
                    "table": table,
                    "source_rows": want["rows"],
                    "destination_rows": got["rows"],
                    "problem": problem,
                }
            )
    return ok


def check_references(destination: DestinationStore, result: VerifyResult) -> None:
    """Add the destination's dangling references (a run whose experiment is missing, a model
    version whose registered model is missing) to ``result``. Only stores without foreign
    keys (MongoDB) need the check (``capabilities.checks_references``)."""
    if not destination.capabilities.checks_references:
        return
    for table, problem in destination.dangling_references():
        result.mismatches.append({"unit": "*", "table": table, "problem": problem})


def read_back(destination: SourceStore, unit: Unit, scope: Scope | None = None) -> dict[str, Digest]:
    """Digests of ``unit`` as the destination holds it (with a ``scope``, a unit merged into an
    existing one, only the rows it brought; the order of its histories where the store keeps
    one), reading again after a dropped connection."""
    ordered = destination.capabilities.ordered_histories and scope is None

    def attempt() -> dict[str, Digest]:
        stream = destination.read_unit(unit)
        return digest_stream(stream if scope is None else scoped(stream, scope), ordered=ordered)

    return RetryPolicy().run(attempt)


_opened: dict[str, SourceStore] = {}


def _read_back_by_uri(uri: str, unit: Unit, scope: Scope | None = None) -> dict[str, Digest]:
    """``read_back`` in a verifier process, which opens the destination once from its URI."""
    if uri not in _opened:
        from mlmigrate.stores import open_store

        _opened[uri] = open_store(uri)
        _opened[uri].read_committed()  # only committed units are read back
    return read_back(_opened[uri], unit, scope)


class BackgroundVerifier:
    """Reads each unit back from the destination soon after it is committed, beside the writing
    of the next units instead of after them all.

    With ``in_process=False`` the reading and digesting run in a helper process of their own
    (which opens the destination from its URI), so they take no time from the writer's process.
    That process starts at :meth:`start` (or :meth:`drain`); units submitted before wait for
    it. The copy starts it once the first unit is written, so that its start-up does not
    compete with the readers' for the cores.

    A helper process that dies (killed, out of memory) is not waited for: what it had not read
    back yet is read in this process instead.
    """

    def __init__(self, destination: SourceStore, *, in_process: bool = True):
        self._destination = destination
        self._pool: ThreadPoolExecutor | ReadBackProcess | None = (
            ThreadPoolExecutor(max_workers=1, thread_name_prefix="mlmigrate-verify") if in_process else None
        )
        self._in_process = in_process
        self._started = in_process
        self._lock = threading.Lock()
        self._waiting: list[tuple[Unit, Scope | None]] = []
        self._pending: dict[str, Future[dict[str, Digest]]] = {}
        self._broken = False

    def start(self) -> None:
        """Start the helper process, from the calling thread (the kernel's parent-death signal
        is tied to the thread that forks: call it from one that lives as long as the copy), and
        hand it the units submitted meanwhile."""
        with self._lock:
            if self._started:
                return
            self._started = True
            try:
                self._pool = ReadBackProcess()
            except OSError:  # no process to be had: read back in this process
                self._broken = True
            waiting, self._waiting = self._waiting, []
        for unit, scope in waiting:
            self.submit(unit, scope)

    def submit(self, unit: Unit, scope: Scope | None = None) -> None:
        """Start reading back ``unit`` (its destination id in ``source_id``); with a ``scope``
        (a unit merged into an existing one) only the rows it brought."""
        with self._lock:
            if not self._started:
                self._waiting.append((unit, scope))
                return
        if self._broken or self._pool is None:
            return  # read back in this process when its digests are asked for
        try:
            if isinstance(self._pool, ThreadPoolExecutor):
                future = self._pool.submit(read_back, self._destination, unit, scope)
            else:
                future = self._pool.submit(_read_back_by_uri, self._destination.uri, unit, scope)
        except BrokenExecutor:
            self._broken = True
            return
        self._pending[unit.unit_id] = future

    def digests(self, unit: Unit, scope: Scope | None = None) -> dict[str, Digest]:
        """The destination's digests of ``unit``: read earlier, or now."""
        future = self._pending.pop(unit.unit_id, None)
        if future is not None:
            try:
                return future.result()
            except BrokenExecutor:  # the helper process died: read it here instead
                self._broken = True
        return read_back(self._destination, unit, scope)

    def drain(self) -> None:
        """Wait until every unit submitted so far has been read back (before the destination is
        finished: a backup, for one, moves its rows when it finishes)."""
        self.start()
        wait(list(self._pending.values()))

    def close(self) -> None:
        """Stop reading back (what is under way finishes)."""
        if isinstance(self._pool, ThreadPoolExecutor):
            self._pool.shutdown(wait=True, cancel_futures=True)
        elif self._pool is not None:
            self._pool.shutdown()
