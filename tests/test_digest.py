"""Unit tests of the table digest: order-independent, duplicate-sensitive, exact where it matters."""

from __future__ import annotations

import math

import pyarrow as pa
import pytest

from mlmigrate.digest import Digest


def _digest(*batches: pa.Table | pa.RecordBatch) -> dict[str, int | str]:
    digest = Digest()
    for batch in batches:
        digest.add(batch)
    return digest.as_dict()


def _rows(keys: list[str | None], values: list[float | None], steps: list[int] | None = None) -> pa.Table:
    steps = steps if steps is not None else list(range(len(keys)))
    return pa.table(
        {
            "key": pa.array(keys, pa.string()),
            "value": pa.array(values, pa.float64()),
            "step": pa.array(steps, pa.int64()),
        }
    )


KEYS = ["loss", "acc", "loss/val", "ünïcode 🚀", ""]
VALUES = [0.5, 0.9, 1e-300, -2.0, 3.0]


def test_empty_digest() -> None:
    assert _digest() == {"rows": 0, "digest": "0" * 16}
    assert _digest(_rows([], [])) == {"rows": 0, "digest": "0" * 16}


def test_row_order_does_not_matter() -> None:
    forward = _rows(KEYS, VALUES)
    backward = _rows(KEYS[::-1], VALUES[::-1], steps=list(range(len(KEYS)))[::-1])

    assert _digest(forward) == _digest(backward)


def test_batching_does_not_matter() -> None:
    table = _rows(KEYS, VALUES)

    assert _digest(table) == _digest(table.slice(0, 2), table.slice(2))
    assert _digest(table) == _digest(*table.to_batches(max_chunksize=1))


def test_a_duplicated_row_changes_count_and_digest() -> None:
    once = _digest(_rows(KEYS, VALUES))
    twice = _digest(_rows([*KEYS, KEYS[0]], [*VALUES, VALUES[0]], steps=[0, 1, 2, 3, 4, 0]))

    assert twice["rows"] == once["rows"] + 1
    assert twice["digest"] != once["digest"]


def test_swapping_a_duplicate_for_another_row_is_detected() -> None:
    """Same row count: one row doubled, another missing."""
    original = _digest(_rows(["a", "b"], [1.0, 2.0], [0, 0]))
    doubled = _digest(_rows(["a", "a"], [1.0, 1.0], [0, 0]))

    assert original["rows"] == doubled["rows"]
    assert original["digest"] != doubled["digest"]


@pytest.mark.parametrize("position", [0, 3, -1])
def test_one_character_change_is_detected(position: int) -> None:
    text = "0123456789abcdef" * 300
    changed = list(text)
    changed[position] = "X"

    assert _digest(_rows([text], [1.0])) != _digest(_rows(["".join(changed)], [1.0]))


def test_string_boundaries_matter() -> None:
    """('ab', 'c') and ('a', 'bc') hold the same bytes but are different rows."""
    left = pa.table({"a": ["ab"], "b": ["c"]})
    right = pa.table({"a": ["a"], "b": ["bc"]})

    assert _digest(left) != _digest(right)


def test_values_moved_between_columns_are_detected() -> None:
    assert _digest(pa.table({"a": [1], "b": [2]})) != _digest(pa.table({"a": [2], "b": [1]}))


def test_float_change_in_the_last_bit_is_detected() -> None:
    assert _digest(_rows(["k"], [0.1 + 0.2])) != _digest(_rows(["k"], [0.3]))
    assert _digest(_rows(["k"], [math.inf])) != _digest(_rows(["k"], [1.7976931348623157e308]))
    assert _digest(_rows(["k"], [math.inf])) != _digest(_rows(["k"], [-math.inf]))


def test_negative_zero_equals_zero() -> None:
    assert _digest(_rows(["k"], [-0.0])) == _digest(_rows(["k"], [0.0]))


def test_nan_equals_null() -> None:
    """SQLite stores NaN as NULL; a digest must not call that a difference."""
    assert _digest(_rows(["k"], [math.nan])) == _digest(_rows(["k"], [None]))
    assert _digest(_rows(["k"], [math.nan])) != _digest(_rows(["k"], [0.0]))


def test_null_string_differs_from_empty_string() -> None:
    assert _digest(_rows([None], [1.0])) != _digest(_rows([""], [1.0]))


def test_large_string_and_string_hash_alike() -> None:
    small = pa.table({"s": pa.array(KEYS, pa.string())})
    large = pa.table({"s": pa.array(KEYS, pa.large_string())})

    assert _digest(small) == _digest(large)


def test_sliced_arrays_hash_like_fresh_ones() -> None:
    """Offsets of a sliced string array must be honoured."""
    table = _rows(KEYS, VALUES)

    assert _digest(table.slice(1, 3)) == _digest(_rows(KEYS[1:4], VALUES[1:4], steps=[1, 2, 3]))


def test_repeated_strings_hash_as_when_each_is_hashed_alone() -> None:
    """Strings that repeat are hashed once per distinct value; each element still gets its own
    value's hash (sliced arrays and nulls included)."""
    import numpy as np
    import pyarrow as pa

    from mlmigrate.digest import _distinct_string_hashes, _string_hashes

    values = pa.array(["loss", "acc", None, "loss", "ünï", "acc", "loss", "", "loss"] * 50)
    for array in (values, values.slice(3, 200)):
        valid = array.is_valid().to_numpy(zero_copy_only=False)
        assert np.array_equal(_string_hashes(array)[valid], _distinct_string_hashes(array)[valid])
    assert len(_string_hashes(pa.array([None, None], pa.string()))) == 2


def test_a_string_hashes_alike_wherever_the_hashing_windows_fall(monkeypatch: pytest.MonkeyPatch) -> None:
    """Strings are hashed a window of bytes at a time; windows of 7 and 64 bytes, with strings
    longer than a window among them, give the hashes one window over all the bytes gives."""
    import random

    import mlmigrate.digest as digest

    random.seed(7)
    values = [
        "".join(random.choice("abé😀\x00") for _ in range(random.choice([0, 1, 5, 40, 300])))
        for _ in range(80)
    ]
    whole = digest.column_hashes(pa.array(values))
    for window in (7, 64):
        monkeypatch.setattr(digest, "_WINDOW", window)
        assert (digest.column_hashes(pa.array(values)) == whole).all()
        assert (digest.column_hashes(pa.array(values).slice(3)) == whole[3:]).all()


def test_a_huge_value_is_digested_in_bounded_memory() -> None:
    """A 64 MB tag value took 8 bytes of NumPy arrays per byte, several times over (a 100 MB
    value took the reader to 3.1 GB); hashed a window at a time it takes a fixed amount."""
    import tracemalloc

    value = "v" * (64 << 20)
    table = pa.table({"key": ["t"], "value": [value]})
    Digest().add(pa.table({"key": ["warm"], "value": ["x" * (4 << 20)]}))  # the power tables, once
    tracemalloc.start()
    try:
        Digest().add(table)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 128 << 20, f"{peak / 2**20:.0f} MiB traced for a 64 MiB value"
