"""Making a written FileStore agree with the source's ``latest_metrics``.

A FileStore keeps no latest values: MLflow derives each from the metric file (the first of
tied points at the newest step and timestamp if it is NaN, else the largest number: see
:func:`~mlmigrate.stores.filestore.metric_lines.latest_points`). A SQL store keeps them in
``latest_metrics``, chosen by its own rule as the points were logged (NaN counting as 0), and
returns a history in another order than it was logged. So where the two rules pick different
points of one tie, the source's latest point is moved to the top of its file, which makes the
FileStore's rule pick it too; nothing else in the file changes, and a file that already agrees
is not rewritten.
"""

from __future__ import annotations

import math
import struct
from pathlib import Path
from typing import Any

import pyarrow as pa

from mlmigrate.stores.filestore.metric_lines import MetricFile, latest_points, parse_run_metrics


def _point(row: dict[str, Any]) -> tuple[Any, ...]:
    """A point's identity: step, timestamp and the value's bits (NaN as one value)."""
    value = row["value"]
    nan = bool(row["is_nan"]) or value is None or (isinstance(value, float) and math.isnan(value))
    return (row["step"], row["timestamp"], "nan" if nan else struct.pack("<d", float(value)))


def agree_with(latest: list[pa.RecordBatch], metric_path: Any) -> int:
    """Rewrite the metric files whose own latest point is not the one ``latest`` (batches of
    ``latest_metrics``) names; ``metric_path(run_id, key)`` is a file's path. Returns how many
    files were rewritten."""
    wanted: dict[tuple[str, str], tuple[Any, ...]] = {}
    for batch in latest:
        for row in batch.to_pylist():
            wanted[(row["run_uuid"], row["key"])] = _point(row)
    files = []
    for (run_id, key), _ in wanted.items():
        path = Path(metric_path(run_id, key))
        if path.is_file():
            files.append(MetricFile(path=str(path), key=key, owner=run_id, text=path.read_text("utf-8")))
    if not files:
        return 0
    theirs = {
        (row["run_uuid"], row["key"]): _point(row)
        for row in latest_points(parse_run_metrics(files)).to_pylist()
    }
    rewritten = 0
    for metric_file in files:
        name = (metric_file.owner, metric_file.key)
        if theirs.get(name) == wanted[name]:
            continue
        points = [_point(row) for row in parse_run_metrics([metric_file]).to_pylist()]
        if wanted[name] not in points:
            continue  # the source's latest value is none of its points: nothing to agree with
        lines = metric_file.text.splitlines(keepends=True)
        first = points.index(wanted[name])
        moved = lines[first] if lines[first].endswith("\n") else lines[first] + "\n"
        rest = lines[:first] + lines[first + 1 :]
        Path(metric_file.path).write_text(moved + "".join(rest), encoding="utf-8")
        rewritten += 1
    return rewritten
