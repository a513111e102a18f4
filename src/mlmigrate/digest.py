"""Order-independent, duplicate-sensitive digests of record batches, vectorised.

Each row hashes to a 64-bit value built from its columns; a table's digest is
the row count and the wrapping sum of its row hashes, so row order does not
matter and a doubled row changes it. Strings are hashed with a polynomial hash
over their UTF-8 bytes computed with NumPy, so no Python object is made per row.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

_P = np.uint64(0x100000001B3)
_NULL = np.uint64(0x9E3779B97F4A7C15)
_MASK = (1 << 64) - 1


def _mix(values: np.ndarray) -> np.ndarray:
    """splitmix64 finaliser, element-wise."""
    with np.errstate(over="ignore"):
        z = values + np.uint64(0x9E3779B97F4A7C15)
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        return z ^ (z >> np.uint64(31))


_POWER_CACHE: dict[int, np.ndarray] = {}
_CACHE_LIMIT = 1 << 23  # 64 MiB of uint64 per base


def _powers(n: int, base: int) -> np.ndarray:
    """base**k mod 2**64 for k < n (at least; cached and grown by doubling)."""
    cached = _POWER_CACHE.get(base)
    if cached is not None and len(cached) >= n:
        return cached
    if n > _CACHE_LIMIT:  # a rare huge batch: don't keep its table around
        return _compute_powers(n, base)
    out = _compute_powers(max(n, 2 * len(cached) if cached is not None else 1 << 16), base)
    _POWER_CACHE[base] = out
    return out


def _compute_powers(n: int, base: int) -> np.ndarray:
    out = np.empty(max(n, 1), dtype=np.uint64)
    out[0] = 1
    step, filled = np.uint64(base), 1
    with np.errstate(over="ignore"):
        while filled < n:
            take = min(filled, n - filled)
            out[filled : filled + take] = out[:take] * step
            step = step * step if take == filled else step
            filled += take
    return out


def _string_hashes(array: pa.Array) -> np.ndarray:
    """A hash per string (anything at a null; callers overwrite those). Each distinct string
    is hashed once: MLflow's string columns repeat a few values (metric keys, run ids)."""
    encoded = pc.dictionary_encode(array)
    if not len(encoded.dictionary) or len(encoded.dictionary) * 2 > len(array):  # mostly distinct
        return _distinct_string_hashes(array)
    indices = pc.fill_null(encoded.indices, 0).to_numpy(zero_copy_only=False)
    return _distinct_string_hashes(encoded.dictionary)[indices]


#: bytes of string data hashed at once: memory stays a few times this, whatever the values
_WINDOW = 1 << 21


def _distinct_string_hashes(array: pa.Array) -> np.ndarray:
    array = pc.cast(array, pa.large_binary())  # text and bytes alike: hashed as their bytes
    offsets = np.frombuffer(array.buffers()[1], dtype=np.int64)[array.offset : array.offset + len(array) + 1]
    data_buffer = array.buffers()[2]
    data = (
        np.frombuffer(data_buffer, dtype=np.uint8) if data_buffer is not None else np.zeros(0, dtype=np.uint8)
    )
    start, end = offsets[:-1], offsets[1:]
    hashes = np.empty(len(start), dtype=np.uint64)
    first = 0
    while first < len(start):  # a window of strings at a time, a longer string on its own
        base = int(start[first])
        if int(end[first]) - base > _WINDOW:
            hashes[first] = _long_string_hash(data[base : int(end[first])])
            first += 1
            continue
        last = int(np.searchsorted(end, base + _WINDOW, side="right"))
        hashes[first:last] = _span_hashes(
            data[base : int(end[last - 1])], start[first:last] - base, end[first:last] - base
        )
        first = last
    return hashes


def _span_hashes(data: np.ndarray, start: np.ndarray, end: np.ndarray) -> np.ndarray:
    """The hash of each string ``data[start:end]``: its bytes weighted by powers of ``_P``
    from its first byte, mixed with its length."""
    total = len(data)
    inverse = pow(int(_P), -1, 1 << 64)
    with np.errstate(over="ignore"):
        weighted = data.astype(np.uint64) * _powers(total, int(_P))[:total]
        cumulative = np.concatenate([[np.uint64(0)], np.cumsum(weighted, dtype=np.uint64)])
        spans = cumulative[end] - cumulative[start]
        unshift = _powers(total + 1, inverse)[start]
        return _mix(spans * unshift + (end - start).astype(np.uint64))


def _long_string_hash(data: np.ndarray) -> np.uint64:
    """:func:`_span_hashes` of one string longer than a window, summed a window at a time."""
    total = np.uint64(0)
    with np.errstate(over="ignore"):
        for at in range(0, len(data), _WINDOW):
            window = data[at : at + _WINDOW]
            weighted = window.astype(np.uint64) * _powers(len(window), int(_P))[: len(window)]
            total += weighted.sum(dtype=np.uint64) * np.uint64(pow(int(_P), at, 1 << 64))
        return np.uint64(_mix(np.array([total + np.uint64(len(data))], dtype=np.uint64))[0])


def column_hashes(array: pa.Array) -> np.ndarray:
    """A uint64 hash per element; nulls (and NaN, which SQLite stores as null) hash alike."""
    if isinstance(array, pa.ChunkedArray):
        array = array.combine_chunks()
    kind = array.type
    if pa.types.is_dictionary(kind):
        return column_hashes(array.dictionary_decode())
    if pa.types.is_decimal(kind):  # by its text: 1.10 at scale 2 on every engine
        kind, array = pa.string(), array.cast(pa.string())
    if pa.types.is_null(kind):
        return np.full(len(array), _NULL, dtype=np.uint64)
    if pa.types.is_fixed_size_binary(kind):
        array = array.cast(pa.binary())
        kind = array.type
    if (
        pa.types.is_string(kind)
        or pa.types.is_large_string(kind)
        or pa.types.is_binary(kind)
        or pa.types.is_large_binary(kind)
    ):
        hashes = _string_hashes(array)
    elif pa.types.is_floating(kind):
        values = array.to_numpy(zero_copy_only=False).astype(np.float64)
        values = np.where(values == 0.0, 0.0, values)  # -0.0 and 0.0 alike
        hashes = _mix(values.view(np.uint64))
        hashes[np.isnan(values)] = _NULL
    elif pa.types.is_boolean(kind):
        hashes = _mix(pc.fill_null(array, False).to_numpy(zero_copy_only=False).astype(np.uint64) + 7)
    elif pa.types.is_temporal(kind):  # dates, times, timestamps: their count of units
        narrow = pa.types.is_date32(kind) or kind in (pa.time32("s"), pa.time32("ms"))
        counts = pc.fill_null(array.cast(pa.int32() if narrow else pa.int64()), 0)
        hashes = _mix(counts.to_numpy(zero_copy_only=False).astype(np.int64).view(np.uint64))
    else:
        hashes = _mix(pc.fill_null(array, 0).to_numpy(zero_copy_only=False).astype(np.int64).view(np.uint64))
    if array.null_count:
        hashes = np.where(array.is_null().to_numpy(zero_copy_only=False), _NULL, hashes)
    return hashes


def row_hashes(batch: pa.RecordBatch | pa.Table) -> np.ndarray:
    """A uint64 hash per row over every column (what :class:`Digest` sums): two rows hash alike
    when every value does, so a table's differing rows can be found by comparing these."""
    with np.errstate(over="ignore"):
        row = np.zeros(batch.num_rows, dtype=np.uint64)
        for index, column in enumerate(batch.columns):
            row = row * np.uint64(0x100000001B3) + column_hashes(column) + np.uint64(index)
        return _mix(row)


@dataclass
class Digest:
    """Row count and wrapping sum of row hashes of one table's rows."""

    rows: int = 0
    total: int = 0

    def add(self, batch: pa.RecordBatch | pa.Table) -> None:
        """Fold ``batch``'s rows in."""
        if batch.num_rows == 0:
            return
        row = row_hashes(batch)
        self.rows += batch.num_rows
        self.total = (self.total + int(row.sum(dtype=np.uint64))) & _MASK

    @property
    def hex(self) -> str:
        """The sum as 16 hex digits."""
        return f"{self.total:016x}"

    def as_dict(self) -> dict[str, int | str]:
        """JSON-ready form."""
        return {"rows": self.rows, "digest": self.hex}
