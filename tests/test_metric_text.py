"""Metric values are written as MLflow writes them: Python's ``str(float)``."""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from mlmigrate.stores.filestore.metric_text import grouped_lines, metric_values, python_float_text


def test_float_text_is_pythons_str_for_every_kind_of_float() -> None:
    rng = np.random.default_rng(7)
    random_bits = np.frombuffer(rng.bytes(8 * 20_000), dtype=np.float64)
    scaled = rng.random(20_000) * 10.0 ** rng.integers(-12, 24, 20_000)
    edges = [0.0, -0.0, 3.0, 1e15, 1e16, 9.999e15, 1e-4, 9.99e-5, 5e-324, 1.7976931348623157e308, 0.1 + 0.2]
    values = np.concatenate([random_bits, scaled, -scaled, np.round(scaled[:1000]), edges])

    text = python_float_text(pa.array(values)).to_pylist()

    assert text == [str(value) for value in values.tolist()]


def test_nan_comes_back_from_the_flag_and_from_null() -> None:
    values = metric_values(pa.array([0.0, float("inf"), None]), pa.array([True, False, False]))

    assert values.to_pylist() == ["nan", "inf", "nan"]


def test_lines_are_grouped_per_owner_and_key_in_their_order() -> None:
    owners = pa.array(["r2", "r1", "r2", "r1"])
    keys = pa.array(["loss", "loss", "loss", "acc"])
    fields = [pa.array(["1", "2", "3", "4"]), pa.array(["0.5", "nan", "-inf", "1.0"])]

    files = {(owner, key): text for owner, key, text in grouped_lines(owners, keys, fields)}

    assert files == {
        ("r1", "acc"): b"4 1.0\n",
        ("r1", "loss"): b"2 nan\n",
        ("r2", "loss"): b"1 0.5\n3 -inf\n",
    }
