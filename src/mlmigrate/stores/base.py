"""What every store offers the engine: units to read, unit writes, capabilities."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Protocol

import pyarrow as pa

#: A stream of canonical rows: (table name, record batch), parents before children.
BatchStream = Iterator[tuple[str, pa.RecordBatch]]


@dataclass(frozen=True)
class Unit:
    """A piece of a migration written atomically: one experiment or one registered model."""

    kind: str
    source_id: str
    label: str = ""

    @property
    def unit_id(self) -> str:
        """Stable identifier used by the journal: ``experiment:123``, ``registered_model:name``."""
        return f"{self.kind}:{self.source_id}"


@dataclass(frozen=True)
class Capabilities:
    """What a store can hold, asked by the engine instead of checking its type."""

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
    #: whether an exact duplicate metric point is held once (a SQL key); a FileStore keeps both
    unique_metric_points: bool = True


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


class SourceStore(Protocol):
    """A store the engine can read from."""

    uri: str
    capabilities: Capabilities

    def units(self) -> list[Unit]:
        """The units of this store, experiments first."""

    def read_unit(self, unit: Unit) -> BatchStream:
        """Stream the canonical rows of ``unit``, parents before children."""

    def close(self) -> None:
        """Release connections and files."""


class DestinationStore(SourceStore, Protocol):
    """A store the engine can write to."""

    def is_empty(self) -> bool:
        """Whether the destination holds nothing yet (its schema can be made while reading starts)."""

    def prepare(self) -> None:
        """Create or check the schema so units can be written."""

    def existing(self, *, run_ids: Iterable[str] = ()) -> ExistingObjects:
        """What the destination already holds that a migration could clash with."""

    def write_unit(
        self, unit: Unit, dest_id: str, batches: BatchStream, *, into_existing: bool = False
    ) -> dict[str, int]:
        """Replace everything of ``unit`` (known in the destination as ``dest_id``) with
        ``batches`` atomically; return rows written per table.

        ``into_existing``: ``dest_id`` is an experiment or model the destination already
        holds with rows of its own (``--on-conflict merge``); only the rows the batches
        bring (their runs, logged models, traces, versions) are replaced, the rest stays.
        """

    def finish(self) -> None:
        """Advance id sequences past what was written."""
