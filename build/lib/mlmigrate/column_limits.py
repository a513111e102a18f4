"""The lengths MLflow's SQL schema gives its text columns (``params.value`` 8000, ``tags.key``
250 …), read from MLflow's own SQLAlchemy models once per MLflow version.

A database that enforces them (PostgreSQL, MySQL) refuses a longer value only when the
whole unit is written, after it was read, shaped and sent. Checked while reading instead,
an over-long value is refused at once, naming the run and key that hold it. So is text
with a NUL character, for a destination whose text cannot hold one (PostgreSQL).
"""

from __future__ import annotations

import functools
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from mlmigrate.exceptions import SourceFormatError
from mlmigrate.tables import RUN_TABLES, TABLES

#: columns that name the row in a message, in the order they are tried
_NAMING = ("run_uuid", "experiment_id", "name", "request_id", "model_id", "key", "version")


def _describe() -> dict[str, Any]:
    from mlmigrate.global_tables import _metadata

    limits: dict[str, dict[str, int]] = {}
    for table in _metadata().sorted_tables:
        if table.name not in TABLES:
            continue
        for column in table.columns:
            kind = getattr(column.type, "impl_instance", None) or column.type
            length = getattr(kind, "length", None)
            if isinstance(length, int) and length > 0:
                limits.setdefault(table.name, {})[column.name] = length
    return {"limits": limits}


@functools.cache
def column_limits() -> dict[str, dict[str, int]]:
    """``{table: {column: longest length}}`` of MLflow's canonical tables."""
    from mlmigrate.mlflow_cache import cached

    return dict(cached("column-limits", _describe)["limits"])


def _refused(table: str, column: str, batch: pa.RecordBatch, row: int, problem: str) -> SourceFormatError:
    """The error for ``row`` of ``batch``: its message names the row's run, experiment, key …,
    and its ``run_id`` the run (so ``--on-error skip`` can leave out only that run)."""
    found = batch.slice(row, 1).to_pylist()[0]
    naming = ", ".join(
        f"{name} {str(found[name])[:200]!r}" for name in _NAMING if name in found and name != column
    )
    run = found.get("run_uuid") if table in RUN_TABLES else None
    return SourceFormatError(f"{table}.{column} of {naming}: {problem}", run_id=run)


def check_lengths(table: str, batch: pa.RecordBatch) -> None:
    """Raise :class:`SourceFormatError` naming the first row of ``batch`` whose text is longer
    than its column in MLflow's SQL schema holds."""
    for column, limit in column_limits().get(table, {}).items():
        if column not in batch.schema.names or not pa.types.is_string(batch.schema.field(column).type):
            continue
        lengths = pc.utf8_length(batch.column(column))
        over = pc.fill_null(pc.greater(lengths, limit), False)
        if not pc.any(over).as_py():
            continue
        row = pc.index(over, True).as_py()
        raise _refused(
            table,
            column,
            batch,
            row,
            f"{lengths[row].as_py():,} characters, over the {limit:,} the destination's column "
            "holds; shorten it at the source or leave its run out with --on-error skip",
        )


def check_no_nul(table: str, batch: pa.RecordBatch) -> None:
    """Raise :class:`SourceFormatError` naming the first row of ``batch`` whose text holds a NUL
    character, which a PostgreSQL text column cannot hold (``Capabilities.holds_nul``)."""
    for index, field in enumerate(batch.schema):
        if not (pa.types.is_string(field.type) or pa.types.is_large_string(field.type)):
            continue
        found = pc.fill_null(pc.match_substring(batch.column(index), "\x00"), False)
        if not pc.any(found).as_py():
            continue
        row = pc.index(found, True).as_py()
        raise _refused(
            table,
            field.name,
            batch,
            row,
            "holds a NUL character (\\x00), which the destination cannot store; remove it at the "
            "source or leave its run out with --on-error skip",
        )
