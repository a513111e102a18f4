"""Vectorised writing of FileStore metric files.

MLflow appends one line per point, ``f"{timestamp} {value} {step}"``, so values are
Python's ``str(float)``: ``nan``, ``inf``, ``-inf``, ``3.0``, ``1e-05``. Lines are
made for a whole batch with Arrow kernels, sorted by owner and key, and each
file's lines are one contiguous slice of the resulting string buffer: no Python
object is made per point (values Arrow prints differently from Python are the
exception, formatted one by one; typical metrics have none).
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

#: Python prints floats positionally when 1e-4 <= |v| < 1e16, in scientific notation otherwise
_POSITIONAL_LOW, _POSITIONAL_HIGH = 1e-4, 1e16


def python_float_text(values: pa.Array) -> pa.Array:
    """``str(v)`` of every float in ``values``, as MLflow writes it (``nan`` for NaN)."""
    values = values.combine_chunks() if isinstance(values, pa.ChunkedArray) else values
    text = pc.cast(values, pa.string())
    magnitude = pc.abs(values)
    positional = pc.or_(
        pc.equal(magnitude, 0.0),
        pc.and_(pc.greater_equal(magnitude, _POSITIONAL_LOW), pc.less(magnitude, _POSITIONAL_HIGH)),
    )
    special = pc.or_(pc.is_nan(values), pc.is_inf(values))
    has_exponent = pc.match_substring(text, "e")
    # Arrow and Python print the same shortest digits; they differ only in where they switch
    # to an exponent and in "3" vs "3.0"
    simple = pc.fill_null(pc.or_(special, pc.and_(positional, pc.invert(has_exponent))), True)
    needs_point = pc.and_(pc.invert(special), pc.invert(pc.match_substring(text, ".")))
    text = pc.if_else(pc.and_(simple, needs_point), pc.binary_join_element_wise(text, ".0", ""), text)
    odd = np.flatnonzero(~simple.to_numpy(zero_copy_only=False))
    if odd.size:
        floats = values.to_numpy(zero_copy_only=False)
        fixed = pa.array([str(float(floats[i])) for i in odd], pa.string())
        text = pc.replace_with_mask(text, pc.invert(simple), fixed)
    return text


def metric_values(value: pa.Array, is_nan: pa.Array | None) -> pa.Array:
    """The value column as MLflow prints it, NaN restored from the canonical ``is_nan`` flag
    (a NULL value is a NaN that SQLite could not store)."""
    if is_nan is not None:
        value = pc.if_else(pc.fill_null(is_nan, False), float("nan"), value)
    return pc.fill_null(python_float_text(value), "nan")


def grouped_lines(
    owners: pa.Array, keys: pa.Array, fields: list[pa.Array]
) -> Iterator[tuple[str, str, bytes]]:
    """(owner, key, file text) per (owner, key): each row becomes ``" ".join(fields) + "\\n"``.

    Rows keep their order within a file.
    """
    if len(owners) == 0:
        return
    table = pa.table({"owner": owners, "key": keys, "row": pa.array(np.arange(len(owners)))})
    order = table.sort_by([("owner", "ascending"), ("key", "ascending"), ("row", "ascending")])
    take = order.column("row")
    line = pc.binary_join_element_wise(*[pc.take(f, take) for f in fields], " ")
    line = pc.binary_join_element_wise(line, "\n", "")
    line = pc.cast(line, pa.large_string())
    if isinstance(line, pa.ChunkedArray):
        line = line.combine_chunks()
    offsets = np.frombuffer(line.buffers()[1], dtype=np.int64)[line.offset : line.offset + len(line) + 1]
    data = line.buffers()[2]
    payload = memoryview(data) if data is not None else memoryview(b"")
    owner = order.column("owner").combine_chunks()
    key = order.column("key").combine_chunks()
    changed = pc.or_(pc.not_equal(owner[1:], owner[:-1]), pc.not_equal(key[1:], key[:-1]))
    starts = np.concatenate([[0], np.flatnonzero(changed.to_numpy(zero_copy_only=False)) + 1])
    ends = np.append(starts[1:], len(owner))
    owner_values = owner.take(pa.array(starts)).to_pylist()
    key_values = key.take(pa.array(starts)).to_pylist()
    for start, end, group_owner, group_key in zip(starts, ends, owner_values, key_values, strict=True):
        yield group_owner, group_key, bytes(payload[offsets[start] : offsets[end]])
