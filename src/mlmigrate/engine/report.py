"""The report of a migration: what was read, written, skipped and verified."""

from __future__ import annotations

import functools
import time
from collections import Counter
from dataclasses import dataclass, field
from importlib.metadata import PackageNotFoundError, version
from typing import Any

from mlmigrate.uris import mask

#: why rows of a source unit were read and not written (keys of ``Report.left_out``)
NOT_HELD = "not held by the destination"
KEPT_FROM_DESTINATION = "the destination's own kept (merge)"
ALREADY_PRESENT = "run already in the destination"
REJECTED = "run malformed in the source (--on-error skip)"
#: rows the destination's key holds as one with another row they differ from (-0.0 and 0.0 at
#: one step and timestamp; a logged model's points of two datasets at one step and timestamp)
MERGED_BY_KEY = "held once by the destination's key (merged with another row)"


def utc_now() -> str:
    """The current time, ISO 8601 in UTC to the second (``2026-12-03T12:05:00Z``)."""
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


@functools.cache
def tool_versions() -> dict[str, str | None]:
    """The installed versions of mlmigrate and MLflow (``mlflow`` or ``mlflow-skinny``; None
    when neither is installed), from the package metadata."""
    from mlmigrate.mlflow_cache import mlflow_version

    try:
        tool: str | None = version("mlmigrate")
    except PackageNotFoundError:
        tool = None
    return {"mlmigrate": tool, "mlflow": mlflow_version()}


@dataclass
class TableStats:
    """Rows and time of one table: read (the total), written (migrated), skipped, and
    errors (rows of units that failed, as far as they were read)."""

    read: int = 0
    written: int = 0
    skipped: int = 0
    errors: int = 0
    seconds: float = 0.0


@dataclass
class Report:
    """Everything a copy did, JSON-ready through :meth:`as_dict`."""

    source: str
    destination: str
    migration_id: str = ""
    status: str = "running"
    message: str = ""
    tables: dict[str, TableStats] = field(default_factory=dict)
    remapped: dict[str, str] = field(default_factory=dict)
    id_map_file: str | None = None
    #: where the ids a destination assigned itself were saved (a tracking server's run ids)
    assigned_ids_file: str | None = None
    skipped_units: list[dict[str, str]] = field(default_factory=list)
    #: runs left out of their unit as malformed (``--on-error skip``): unit, label, run, error
    rejected_runs: list[dict[str, str]] = field(default_factory=list)
    #: the file naming every unit and run left out as malformed, one JSON object a line
    rejects_file: str | None = None
    failed_units: list[dict[str, str]] = field(default_factory=list)
    collapsed: Counter[str] = field(default_factory=Counter)
    #: ±inf stored as ±max float, NaN as NULL, per table (a destination without them: MySQL)
    made_finite: Counter[str] = field(default_factory=Counter)
    units_total: int = 0
    units_done: int = 0
    units_this_run: int = 0
    seconds: float = 0.0
    verify: dict[str, Any] | None = None
    #: the artifact phase: objects and bytes per kind (None when artifacts were kept in place)
    artifacts: dict[str, Any] | None = None
    notes: list[str] = field(default_factory=list)
    #: what the source found wrong in itself outside the units (``SourceStore.findings``)
    findings: list[dict[str, str]] = field(default_factory=list)
    #: what ``--on-conflict`` did with each clash: {"object", "action", "detail"}
    conflicts: list[dict[str, str]] = field(default_factory=list)
    #: rows read and not written, per reason and table (tables the destination cannot hold, …)
    left_out: dict[str, dict[str, int]] = field(default_factory=dict)
    #: merged registered model -> {source version: destination version}
    renumbered: dict[str, dict[str, str]] = field(default_factory=dict)
    #: (seconds since the run started, rows written so far) after each unit, for the chart
    timeline: list[tuple[float, int]] = field(default_factory=list)
    #: when the command started and ended (ISO 8601, UTC; ended is "" while it runs)
    started: str = field(default_factory=utc_now)
    ended: str = ""
    #: the destination's MLflow schema revision after the copy (None where it has none or unread)
    schema_revision: str | None = None
    #: the options the copy ran with, as plain data (masked by :meth:`as_dict`)
    options: dict[str, Any] = field(default_factory=dict)
    #: where the units ran (``--executor ray``): node -> units, rows and seconds of work
    nodes: dict[str, dict[str, float]] = field(default_factory=dict)

    def stop(self) -> None:
        """Record the end time (once: the first end is the one that counts)."""
        self.ended = self.ended or utc_now()

    @property
    def not_held(self) -> dict[str, int]:
        """Source rows of tables the destination cannot hold (a FileStore has no webhooks), per
        table: the ``left_out`` entry of that reason."""
        return dict(self.left_out.get(NOT_HELD, {}))

    def placed(self, place: Any, rows: int) -> None:
        """Count a unit done on a worker elsewhere (an :class:`~mlmigrate.executors.base.Place`)
        into its node's throughput; units of this process are not listed."""
        if not place.remote:
            return
        entry = self.nodes.setdefault(place.node, {"units": 0, "rows": 0, "seconds": 0.0})
        entry["units"] += 1
        entry["rows"] += rows
        entry["seconds"] += place.seconds

    def table(self, name: str) -> TableStats:
        """Stats of table ``name``, created on first use."""
        return self.tables.setdefault(name, TableStats())

    @property
    def partial(self) -> bool:
        """Whether anything of the source was left out as malformed (units or runs)."""
        return bool(self.skipped_units or self.rejected_runs)

    @property
    def rows_written(self) -> int:
        """Rows written in this run, all tables."""
        return sum(stats.written for stats in self.tables.values())

    def as_dict(self) -> dict[str, Any]:
        """The report as plain data, with credentials masked."""
        return {
            "migration_id": self.migration_id,
            "started": self.started,
            "ended": self.ended or None,
            "versions": tool_versions(),
            "schema_revision": self.schema_revision,
            "options": _masked(self.options),
            "source": mask(self.source),
            "destination": mask(self.destination),
            "status": self.status,
            "message": mask(self.message),
            "seconds": round(self.seconds, 3),
            "rows_written": self.rows_written,
            "rows_per_second": round(self.rows_written / self.seconds) if self.seconds else None,
            "units": {
                "total": self.units_total,
                "done": self.units_done,
                "this_run": self.units_this_run,
                "skipped": len(self.skipped_units),
                "runs_rejected": len(self.rejected_runs),
                "failed": len(self.failed_units),
            },
            "tables": {
                name: {
                    "read": s.read,
                    "written": s.written,
                    "skipped": s.skipped,
                    "errors": s.errors,
                    "seconds": round(s.seconds, 3),
                }
                for name, s in self.tables.items()
            },
            "experiment_id_map": dict(self.remapped),
            "experiment_id_map_file": self.id_map_file,
            "assigned_ids_file": self.assigned_ids_file,
            "skipped_units": [{k: mask(v) for k, v in u.items()} for u in self.skipped_units],
            "rejected_runs": [{k: mask(v) for k, v in u.items()} for u in self.rejected_runs],
            "rejects_file": self.rejects_file,
            "failed_units": [{k: mask(v) for k, v in u.items()} for u in self.failed_units],
            "collapsed_duplicates": dict(self.collapsed),
            "floats_made_finite": dict(self.made_finite),
            "rows_not_held": self.not_held,
            "notes": [mask(note) for note in self.notes],
            "source_findings": [{k: mask(v) for k, v in f.items()} for f in self.findings],
            "conflicts": self.conflicts,
            "left_out": self.left_out,
            "renumbered_versions": self.renumbered,
            "verify": self.verify,
            "artifacts": self.artifacts,
            "timeline": [list(point) for point in self.timeline],
            "nodes": {
                node: {
                    "units": int(entry["units"]),
                    "rows": int(entry["rows"]),
                    "seconds": round(entry["seconds"], 3),
                    # rows per second of its tasks' time (units overlap: not of the wall clock)
                    "rows_per_second": round(entry["rows"] / entry["seconds"]) if entry["seconds"] else None,
                }
                for node, entry in sorted(self.nodes.items())
            },
        }


def _masked(value: Any) -> Any:
    """``value`` (plain data) with the password of every URI in its strings masked."""
    if isinstance(value, str):
        return mask(value)
    if isinstance(value, dict):
        return {key: _masked(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_masked(item) for item in value]
    return value
