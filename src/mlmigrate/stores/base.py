"""The store contract: what every store offers the engine, and what it can do, as data.

The engine talks to a store only through :class:`SourceStore` (the read side) and
:class:`DestinationStore` (the write side). Every member listed there exists on every
store; what a store can or cannot do is declared in its :class:`Capabilities`, which the
engine asks before it calls an optional member (``delete_unit`` when ``rollback`` is
true, ``write_unit(..., into_existing=True)`` when ``merge`` is, ``pin_snapshot`` when
``snapshot`` is not ``NONE``…). :class:`StoreBase` gives the members a store without that
ability leaves alone their neutral behaviour, so a new store writes only what it has.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import pyarrow as pa

from mlmigrate.exceptions import RefusedError, UsageError

#: A stream of canonical rows: (table name, record batch), parents before children.
BatchStream = Iterator[tuple[str, pa.RecordBatch]]


@dataclass(frozen=True)
class Unit:
    """A piece of a migration written atomically: one experiment or one registered model (or
    another family's unit: one table, or one row range of it)."""

    kind: str
    source_id: str
    label: str = ""
    #: runs a source may leave unread (rejected as malformed by ``--on-error skip``); the
    #: engine leaves them out of whatever is read all the same
    leave_out: frozenset[str] = field(default=frozenset(), compare=False)

    @property
    def unit_id(self) -> str:
        """Stable identifier used by the journal: ``experiment:123``, ``registered_model:name``."""
        return f"{self.kind}:{self.source_id}"


class Snapshot(str, Enum):
    """How a store's reads can be held at one point in time for a whole copy."""

    #: no snapshot: each read sees the store as it is then (files, MongoDB, a backup that no
    #: longer changes)
    NONE = "none"
    #: ``pin_snapshot()`` returns a token that a helper process hands to ``use_snapshot()``
    #: (PostgreSQL's exported snapshot, a private copy of a SQLite file)
    SHARED = "shared"
    #: only the object that pinned it reads the snapshot (MySQL): reads stay in this process
    LOCAL = "local"


@dataclass(frozen=True)
class Capabilities:
    """What a store can hold and do, asked by the engine instead of checking its type."""

    #: largest experiment id the destination column can hold
    max_experiment_id: int = 2**63 - 1
    writable: bool = True
    #: units written at once unless the user says otherwise (SQLite has one writer)
    writers: int = 1
    #: canonical tables the store can hold; ``None`` means every table. Rows of other
    #: tables are reported as not held by the destination, never dropped silently.
    tables: frozenset[str] | None = None
    #: whether float columns hold ±inf and NaN (MySQL's do not: ±inf is stored as ±max float
    #: and a NaN outside ``is_nan`` columns as NULL, as MLflow itself does)
    holds_infinity: bool = True
    #: ``table.column`` names the store cannot hold: written, and compared, as MLflow's default
    #: (a FileStore keeps no ``trace_info.db_payload_generation``)
    unheld_columns: frozenset[str] = frozenset()
    #: whether an exact duplicate metric point is held once (a SQL key); a FileStore keeps both
    unique_metric_points: bool = True
    #: whether a metric history's order is data: MLflow returns it in the order stored and picks
    #: the latest of tied points by it (a FileStore's lines); a copy between two such stores
    #: keeps it and ``verify`` compares it
    ordered_histories: bool = False
    #: whether text longer than MLflow's SQL column lengths is refused (PostgreSQL, MySQL); the
    #: engine then refuses such a value while reading, naming its run and key
    enforces_lengths: bool = False
    #: whether text may hold NUL characters (PostgreSQL's text cannot); when not, the engine
    #: refuses such a value while reading, naming its run and key
    holds_nul: bool = True
    #: how reads of a whole copy see one point in time (``pin_snapshot``/``use_snapshot``)
    snapshot: Snapshot = Snapshot.NONE
    #: ``write_unit(..., into_existing=True)``: add a unit's rows to an experiment or model
    #: the destination already holds (``--on-conflict merge``)
    merge: bool = True
    #: ``delete_unit``: remove exactly one unit's rows (``mlmigrate rollback``)
    rollback: bool = True
    #: ``set_batch_size`` is honoured: rows are sent in batches the user may size
    batched_writes: bool = False
    #: values hold references that keys cannot guard (no foreign keys): verify asks
    #: ``dangling_references()``
    checks_references: bool = False
    #: rows per second a copy into this store reaches on CI's machine (``check``'s estimate);
    #: ``None`` when not measured
    nominal_rate: int | None = None
    #: what the store is in words, for messages that refuse a command (``a FileStore``)
    kind: str = "store"
    #: which data the store holds: ``mlflow`` (MLflow's canonical tables), ``tables`` (a
    #: database's plain tables as they are) or another family of :mod:`mlmigrate.engine.families`
    family: str = "mlflow"
    #: whether another process may read the store while this one writes it (DuckDB: one
    #: process holds a file): read back in this process when not
    shared_reads: bool = True
    #: units written together in one transaction by ``write_units`` (:class:`GroupWriter`),
    #: and journaled together once it commits; 1: one unit per transaction
    group_units: int = 1
    #: ``watermarks()`` tells a changed unit from its own update times, counts, largest
    #: timestamps or file mtimes and sizes, without reading its rows (``sync``); where not,
    #: a unit's changes are found by digesting all of it
    watermarks: bool = False
    #: what the watermarks are made of, in words, for ``plan`` (``file mtimes and sizes``)
    watermark_kind: str = ""
    #: an empty destination whose schema the copy made itself loads its big tables without
    #: their keys, constraints and indexes and builds them once at the end (``key_plan``,
    #: ``drop_keys``, ``build_keys``): a bulk load
    deferred_keys: bool = False


@dataclass
class ExistingObjects:
    """Natural keys already present in a destination, for clash detection and id planning."""

    experiments: dict[int, str] = field(default_factory=dict)  # id -> name
    experiment_names: dict[str, int] = field(default_factory=dict)  # name -> id
    #: experiment ids that hold nothing (no runs, tags, traces or models)
    empty_experiments: set[int] = field(default_factory=set)
    run_ids: set[str] = field(default_factory=set)
    registered_models: set[str] = field(default_factory=set)
    #: registered model name -> its highest version number (deleted versions count)
    model_versions: dict[str, int] = field(default_factory=dict)
    #: unit ids the destination already holds, for families other than MLflow's (a table
    #: ``table:train`` of the same name)
    units: set[str] = field(default_factory=set)
    #: a source's experiment or model name -> the destination's spelling of it, where the
    #: destination takes the two for one name (``names_held_as``)
    held_as: dict[str, str] = field(default_factory=dict)


@runtime_checkable
class SourceStore(Protocol):
    """A store the engine can read from."""

    uri: str
    capabilities: Capabilities

    def units(self) -> list[Unit]:
        """The units of this store, experiments first."""
        ...

    def read_unit(self, unit: Unit) -> BatchStream:
        """Stream the canonical rows of ``unit``, parents before children."""
        ...

    def run_ids(self) -> list[str]:
        """Every run id of the store (to find clashes before anything is written)."""
        ...

    def held_ids(self, target: str) -> set[str] | None:
        """Every id of ``target`` (``run`` or ``logged model``: what values may reference,
        :mod:`mlmigrate.references`) the store holds; None where it cannot list them."""
        ...

    def is_empty(self) -> bool:
        """Whether the store holds nothing yet."""
        ...

    def schema_revision(self) -> str | None:
        """The MLflow schema revision the store is at (None where it has none)."""
        ...

    def pin_snapshot(self) -> str | None:
        """Hold every later read at this point in time; a token for ``use_snapshot`` in another
        process (``Snapshot.SHARED``), or None."""
        ...

    def use_snapshot(self, token: str) -> None:
        """Read the snapshot another process pinned."""
        ...

    def read_committed(self) -> None:
        """Read each table of a unit on its own (reading back what no longer changes)."""
        ...

    def artifact_root(self) -> Path | None:
        """The local folder the store's own artifacts live under (a FileStore's), or None."""
        ...

    def findings(self) -> list[dict[str, str]]:
        """What the source found wrong in itself outside any unit's rows (rows it leaves out,
        files no row names), and how it reads what is ambiguous; each with ``code``, ``where``,
        ``message`` and ``action``, for ``plan`` and the report."""
        ...

    def watermarks(self) -> dict[str, str]:
        """unit id -> a short fingerprint of the unit's watermarks that changes whenever its rows
        do, found without reading them (only where ``capabilities.watermarks``); a unit left
        out is compared by its digests."""
        ...

    def close(self) -> None:
        """Release connections and files."""
        ...


@runtime_checkable
class DestinationStore(SourceStore, Protocol):
    """A store the engine can write to."""

    def prepare(self) -> None:
        """Create or check the schema so units can be written."""
        ...

    def write_problem(self) -> str | None:
        """Why the store could not be written (permissions), or None when it can."""
        ...

    def names_held_as(self, table: str, names: Iterable[str]) -> dict[str, str]:
        """Each of ``names`` (of ``experiments`` or ``registered_models``) that the store holds
        under another spelling its comparison takes for the same (a MySQL collation), mapped
        to that spelling."""
        ...

    def existing(self, *, run_ids: Iterable[str] = ()) -> ExistingObjects:
        """What the destination already holds that a migration could clash with."""
        ...

    def refusals(self, table: str, batch: pa.RecordBatch) -> list[RefusedError]:
        """Rows of a destination-ready batch the store would refuse, each as the error that
        writing them raises (naming table, run and key), found without writing (``plan``,
        ``check``): keys its collation takes for one."""
        ...

    def global_rows(self) -> dict[str, int]:
        """Rows in the tables outside experiments and models that another writer put there."""
        ...

    def write_unit(
        self, unit: Unit, dest_id: str, batches: BatchStream, *, into_existing: bool = False
    ) -> dict[str, int]:
        """Replace everything of ``unit`` (known in the destination as ``dest_id``) with
        ``batches`` atomically; return rows written per table.

        ``into_existing`` (only where ``capabilities.merge``): ``dest_id`` is an experiment
        or model the destination already holds with rows of its own; only the rows the
        batches bring (their runs, logged models, traces, versions) are replaced.
        """
        ...

    def delete_unit(self, unit: Unit) -> None:
        """Remove every row of ``unit`` (its destination id in ``unit.source_id``) atomically
        (only where ``capabilities.rollback``)."""
        ...

    def set_batch_size(self, rows: int) -> None:
        """Send rows in batches of ``rows`` (only where ``capabilities.batched_writes``)."""
        ...

    def record_source(self, info: dict[str, Any]) -> None:
        """Keep what the store is a copy of (a backup's manifest); others ignore it."""
        ...

    def dangling_references(self) -> list[tuple[str, str]]:
        """``(table, reference)`` pairs that point at nothing (only where
        ``capabilities.checks_references``)."""
        ...

    def finish(self) -> None:
        """Advance id sequences past what was written."""
        ...

    def assigned_ids(self) -> dict[str, dict[str, str]]:
        """Ids the store assigned itself instead of keeping the source's, per kind
        (``runs``: source id -> its id); empty where ids are kept."""
        ...

    def key_plan(self) -> dict[str, Any]:
        """The keys, constraints and indexes a bulk load leaves out until the end, read from
        the schema just made, as JSON data the journal keeps; nothing is changed (only where
        ``capabilities.deferred_keys``; empty: nothing to defer)."""
        ...

    def drop_keys(self, plan: dict[str, Any]) -> None:
        """Remove what ``plan`` names before the load; what is gone already is skipped."""
        ...

    def build_keys(self, plan: dict[str, Any]) -> None:
        """Build what ``plan`` names that is missing, in parallel where the store can: called
        again after an interruption, it finishes the build."""
        ...

    def reads_back_alone(self, unit: Unit) -> bool:
        """Whether ``unit`` reads back right as soon as it is committed, while the next units are
        written (not: a table's range found by its offset, which needs the ranges before it)."""
        ...

    def accept(self, done: list[Unit], left: list[Unit]) -> None:
        """The copy's verify passed (or was not asked for): make what was written the data in
        use (an MDM home points its datasets' YAML at their new databases). ``done``: the units
        written and checked; ``left``: the units that were not (failed or skipped)."""
        ...


@runtime_checkable
class GroupWriter(Protocol):
    """A destination that writes several units in one transaction (``capabilities.group_units``)."""

    def write_units(self, items: list[tuple[Unit, str, BatchStream]]) -> list[dict[str, int]]:
        """Write each ``(unit, dest_id, batches)`` of ``items`` in one transaction, all or none
        (each unit replaces what the store held of it); the rows written per table, per item."""
        ...


@runtime_checkable
class HeldFiles(Protocol):
    """A store whose units' rows name files in a folder of its own (a home-made registry's
    model files under its model root)."""

    def held_files(self, unit: Unit) -> dict[str, tuple[int, str] | None] | None:
        """Each file the rows of ``unit`` name, by the name the rows give it: its size and
        SHA-256, or None when it is missing; None when the store was given no such folder."""
        ...


class StoreBase:
    """The neutral behaviour of every optional member, for a store to inherit and override
    where its :class:`Capabilities` say it can do more."""

    uri: str
    capabilities: Capabilities

    def run_ids(self) -> list[str]:
        """No run ids known up front: clashes of runs show when they are written."""
        return []

    def held_ids(self, target: str) -> set[str] | None:
        """No ids listed: the values that reference them are not checked."""
        return None

    def names_held_as(self, table: str, names: Iterable[str]) -> dict[str, str]:
        """Names compare as they are spelled: none is held under another spelling."""
        return {}

    def schema_revision(self) -> str | None:
        """No MLflow schema revision."""
        return None

    def pin_snapshot(self) -> str | None:
        """No snapshot (``Snapshot.NONE``)."""
        return None

    def use_snapshot(self, token: str) -> None:
        """No snapshot to use."""

    def read_committed(self) -> None:
        """Every read already sees committed units only."""

    def artifact_root(self) -> Path | None:
        """No local folder of its own holds artifacts."""
        return None

    def findings(self) -> list[dict[str, str]]:
        """Nothing found outside the units' rows."""
        return []

    def watermarks(self) -> dict[str, str]:
        """No watermarks: every unit's changes are found by its digests."""
        return {}

    def write_problem(self) -> str | None:
        """No permission is inspected: a missing right shows on the first write."""
        return None

    def refusals(self, table: str, batch: pa.RecordBatch) -> list[RefusedError]:
        """Nothing refused: keys are compared as written."""
        return []

    def global_rows(self) -> dict[str, int]:
        """No rows of another writer in tables outside experiments and models."""
        return {}

    def delete_unit(self, unit: Unit) -> None:
        """Refused: this store cannot remove one unit."""
        raise unsupported(self.capabilities, "rollback", "remove what one migration wrote")

    def set_batch_size(self, rows: int) -> None:
        """Ignored: this store does not write in batches the user sizes."""

    def record_source(self, info: dict[str, Any]) -> None:
        """Nothing to keep."""

    def dangling_references(self) -> list[tuple[str, str]]:
        """Keys guard every reference: nothing to look for."""
        return []

    def finish(self) -> None:
        """No id sequence to advance."""

    def assigned_ids(self) -> dict[str, dict[str, str]]:
        """Every id is kept as the source's."""
        return {}

    def key_plan(self) -> dict[str, Any]:
        """Nothing to defer: every write goes through the store's keys."""
        return {}

    def drop_keys(self, plan: dict[str, Any]) -> None:
        """Nothing to drop."""

    def build_keys(self, plan: dict[str, Any]) -> None:
        """Nothing to build."""

    def reads_back_alone(self, unit: Unit) -> bool:
        """Every unit reads back alone once committed."""
        return True

    def accept(self, done: list[Unit], left: list[Unit]) -> None:
        """Nothing to switch over: what was written is in use once committed."""


def unsupported(capabilities: Capabilities, ability: str, what: str) -> UsageError:
    """The error for a command that a store's capabilities do not allow."""
    return UsageError(f"{capabilities.kind} cannot {what} (its capabilities: {ability} = no)")
