"""Vectorised parsing of FileStore metric files.

A metric file holds one point per line, space separated:
``<timestamp_ms> <value> [<step> [<dataset_name> <dataset_digest>]]`` for runs and
``<timestamp_ms> <value> <step> <run_id> [<dataset_name> <dataset_digest>]`` for
logged models. Values are Python ``str(float)``: ``nan``, ``inf`` and ``-inf``
appear literally. All files of a batch are joined and split once with Arrow
compute kernels, so no Python object is made per point.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from mlmigrate.exceptions import SourceFormatError

_INTEGER = r"^[+-]?[0-9]+$"
_FLOAT = r"^[+-]?(?i:nan|inf|infinity|([0-9]+\.?[0-9]*|\.[0-9]+)(e[+-]?[0-9]+)?)$"


@dataclass(frozen=True)
class MetricFile:
    """One metric file's text and what it belongs to."""

    path: str
    key: str
    owner: str
    text: str


def _split(files: list[MetricFile]) -> tuple[pa.Array, np.ndarray, np.ndarray]:
    """All lines of ``files`` as one array, with each line's file index and line number."""
    texts = []
    counts = np.empty(len(files), dtype=np.int64)
    for index, metric_file in enumerate(files):
        text = metric_file.text
        if text.endswith("\n"):
            text = text[:-1]
        if not text.strip():
            raise SourceFormatError("metric file holds no data point", path=metric_file.path)
        texts.append(text)
        counts[index] = text.count("\n") + 1
    joined = pa.array(["\n".join(texts)], type=pa.large_string())
    lines = pc.split_pattern(joined, "\n").flatten()
    file_index = np.repeat(np.arange(len(files), dtype=np.int64), counts)
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    line_number = np.arange(len(file_index), dtype=np.int64) - np.repeat(starts, counts) + 1
    return pc.utf8_trim_whitespace(lines).cast(pa.string()), file_index, line_number


def _fail_at(
    mask: pa.Array,
    files: list[MetricFile],
    file_index: np.ndarray,
    line_number: np.ndarray,
    lines: pa.Array,
    problem: str,
) -> None:
    """Raise for the first line where ``mask`` is false, if any."""
    bad = np.flatnonzero(~mask.to_numpy(zero_copy_only=False))
    if bad.size:
        row = int(bad[0])
        metric_file = files[int(file_index[row])]
        text = lines[row].as_py()
        raise SourceFormatError(
            f"malformed metric line {text!r}: {problem}"
            + (f" ({bad.size} bad lines in this batch)" if bad.size > 1 else ""),
            path=metric_file.path,
            line=int(line_number[row]),
        )


def _field(parts: pa.Array, index: int) -> pa.Array:
    return pc.list_element(parts, index)


def _checked(
    column: pa.Array, pattern: str, what: str, files, file_index, line_number, lines, target: pa.DataType
) -> pa.Array:
    digits = pattern == _INTEGER and pc.all(pc.fill_null(pc.ascii_is_decimal(column), False)).as_py()
    if not digits:  # only digits make an integer without asking the regular expression
        ok = pc.fill_null(pc.match_substring_regex(column, pattern), False)
        _fail_at(ok, files, file_index, line_number, lines, f"{what} is not a number")
    try:
        return pc.cast(column, target)
    except pa.ArrowInvalid:  # a number out of range: find its line (the slow way, only now)
        fits = pa.array([_fits(text, target) for text in column.to_pylist()], pa.bool_())
        _fail_at(fits, files, file_index, line_number, lines, f"{what} is out of range for {target}")
        raise


def _fits(text: str | None, target: pa.DataType) -> bool:
    """Whether ``text`` converts to ``target`` (an int64 or a float64)."""
    if text is None:
        return True
    if pa.types.is_integer(target):
        return -(2**63) <= int(text) < 2**63
    try:
        float(text)
    except ValueError:
        return False
    return True


def parse_run_metrics(files: list[MetricFile]) -> pa.Table:
    """Parse run metric files into ``key, value, timestamp, run_uuid, step, is_nan``.

    Accepts 2, 3 or 5 fields per line, as MLflow does; the step of a 5-field
    line (a point logged with a dataset) is kept, as MLflow's own migration does.
    """
    if not files:
        return _empty_run_metrics()
    lines, file_index, line_number = _split(files)
    parts = pc.split_pattern(lines, " ")
    width = pc.list_value_length(parts)
    ok = pc.is_in(width, value_set=pa.array([2, 3, 5], type=width.type))
    _fail_at(ok, files, file_index, line_number, lines, "expected 2, 3 or 5 space-separated fields")
    two = pc.equal(width, 2)
    if pc.any(two).as_py():  # a point without a step: step 0, as MLflow reads it
        parts = pc.split_pattern(pc.if_else(two, pc.binary_join_element_wise(lines, "0", " "), lines), " ")
    args = (files, file_index, line_number, lines)
    timestamp = _checked(_field(parts, 0), _INTEGER, "timestamp", *args, target=pa.int64())
    value = _checked(_field(parts, 1), _FLOAT, "value", *args, target=pa.float64())
    step = _checked(_field(parts, 2), _INTEGER, "step", *args, target=pa.int64())
    is_nan = pc.is_nan(value)
    value = pc.if_else(is_nan, 0.0, value)
    keys = pa.array([f.key for f in files], type=pa.string())
    owners = pa.array([f.owner for f in files], type=pa.string())
    take = pa.array(file_index)
    return pa.table(
        {
            "key": pc.take(keys, take),
            "value": value,
            "timestamp": timestamp,
            "run_uuid": pc.take(owners, take),
            "step": step,
            "is_nan": is_nan,
        }
    )


def parse_model_metrics(files: list[MetricFile]) -> pa.Table:
    """Parse logged-model metric files into ``metric_name, value, timestamp, step, run_id,
    dataset_name, dataset_digest, model_id`` (4 or 6 fields per line)."""
    if not files:
        return pa.table(
            {
                "model_id": pa.array([], pa.string()),
                "metric_name": pa.array([], pa.string()),
                "metric_timestamp_ms": pa.array([], pa.int64()),
                "metric_step": pa.array([], pa.int64()),
                "metric_value": pa.array([], pa.float64()),
                "run_id": pa.array([], pa.string()),
                "dataset_name": pa.array([], pa.string()),
                "dataset_digest": pa.array([], pa.string()),
            }
        )
    lines, file_index, line_number = _split(files)
    parts = pc.split_pattern(lines, " ")
    width = pc.list_value_length(parts)
    ok = pc.is_in(width, value_set=pa.array([4, 6], type=width.type))
    _fail_at(ok, files, file_index, line_number, lines, "expected 4 or 6 space-separated fields")
    six = pc.equal(width, 6)
    padded = pc.if_else(six, lines, pc.binary_join_element_wise(lines, "-", "-", " "))
    parts = pc.split_pattern(padded, " ")
    args = (files, file_index, line_number, lines)
    take = pa.array(file_index)
    null = pa.nulls(len(lines), pa.string())
    return pa.table(
        {
            "model_id": pc.take(pa.array([f.owner for f in files], pa.string()), take),
            "metric_name": pc.take(pa.array([f.key for f in files], pa.string()), take),
            "metric_timestamp_ms": _checked(
                _field(parts, 0), _INTEGER, "timestamp", *args, target=pa.int64()
            ),
            "metric_step": _checked(_field(parts, 2), _INTEGER, "step", *args, target=pa.int64()),
            "metric_value": _checked(_field(parts, 1), _FLOAT, "value", *args, target=pa.float64()),
            "run_id": pc.cast(_field(parts, 3), pa.string()),
            "dataset_name": pc.if_else(six, pc.cast(_field(parts, 4), pa.string()), null),
            "dataset_digest": pc.if_else(six, pc.cast(_field(parts, 5), pa.string()), null),
        }
    )


def _empty_run_metrics() -> pa.Table:
    return pa.table(
        {
            "key": pa.array([], pa.string()),
            "value": pa.array([], pa.float64()),
            "timestamp": pa.array([], pa.int64()),
            "run_uuid": pa.array([], pa.string()),
            "step": pa.array([], pa.int64()),
            "is_nan": pa.array([], pa.bool_()),
        }
    )


def latest_points(metrics: pa.Table) -> pa.Table:
    """``latest_metrics`` rows by the FileStore's own rule (``FileStore._get_metric_from_file``:
    ``max`` over the file's lines with the key ``(step, timestamp, value)``): per (run, key),
    of the points at the largest (step, timestamp), the first in file order if it is NaN (no
    value compares greater than NaN, nor NaN greater than one), else the largest number, the
    first of equal ones (``-0.0`` and ``0.0`` are equal). ``metrics`` is in file order."""
    columns = ["key", "value", "timestamp", "step", "is_nan", "run_uuid"]
    if metrics.num_rows == 0:
        return metrics.select(columns)
    is_nan = pc.fill_null(metrics.column("is_nan"), False)
    value = metrics.column("value")
    ranked = metrics.select(columns).append_column(
        "__line", pa.array(np.arange(metrics.num_rows, dtype=np.int64))
    )
    # -0.0 + 0.0 is 0.0: equal values then tie on the line, as Python's max does
    ranked = ranked.append_column("__nan", is_nan).append_column(
        "__number", pc.if_else(is_nan, -np.inf, pc.add(value, 0.0))
    )
    group = [("run_uuid", "ascending"), ("key", "ascending")]
    newest = [("step", "descending"), ("timestamp", "descending")]
    first = _group_heads(ranked.sort_by([*group, *newest, ("__line", "ascending")]))
    largest = _group_heads(
        ranked.sort_by(
            [*group, *newest, ("__nan", "ascending"), ("__number", "descending"), ("__line", "ascending")]
        )
    )
    chosen = pc.if_else(first.column("__nan"), first.column("__line"), largest.column("__line"))
    return ranked.take(chosen).select(columns)


def _group_heads(ordered: pa.Table) -> pa.Table:
    """The first row of each (run, key) of ``ordered`` (sorted by run and key first)."""
    run = ordered.column("run_uuid").combine_chunks()
    key = ordered.column("key").combine_chunks()
    if ordered.num_rows == 1:
        return ordered
    differs = pc.or_(pc.not_equal(run[1:], run[:-1]), pc.not_equal(key[1:], key[:-1]))
    head = np.concatenate([[True], differs.to_numpy(zero_copy_only=False)])
    return ordered.filter(pa.array(head))
