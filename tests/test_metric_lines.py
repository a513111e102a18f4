"""Unit tests of the vectorised FileStore metric-line parser and the latest-point rule."""

from __future__ import annotations

import itertools
import math

import pytest

from mlmigrate.exceptions import SourceFormatError
from mlmigrate.stores.filestore.metric_lines import MetricFile, latest_points, parse_run_metrics


def _file(text: str, key: str = "loss", owner: str = "run1", path: str | None = None) -> MetricFile:
    return MetricFile(path=path or f"/mlruns/1/{owner}/metrics/{key}", key=key, owner=owner, text=text)


def _points(*files: MetricFile) -> list[tuple]:
    table = parse_run_metrics(list(files))
    return [
        (row["run_uuid"], row["key"], row["timestamp"], row["value"], row["step"], row["is_nan"])
        for row in table.to_pylist()
    ]


def test_two_three_and_five_field_lines() -> None:
    text = "100 1.5\n200 2.5 7\n300 3.5 9 eval-set abc123\n"

    assert _points(_file(text)) == [
        ("run1", "loss", 100, 1.5, 0, False),  # no step: 0, as MLflow reads it
        ("run1", "loss", 200, 2.5, 7, False),
        ("run1", "loss", 300, 3.5, 9, False),  # the dataset line keeps its step
    ]


def test_special_values() -> None:
    text = "1 nan 0\n2 inf 1\n3 -inf 2\n4 -0.0 3\n5 5e-324 4\n6 1.7976931348623157e+308 5\n7 -42 6\n"

    points = _points(_file(text))

    assert [p[5] for p in points] == [True, False, False, False, False, False, False]
    values = [p[3] for p in points]
    assert values[0] == 0.0  # NaN is stored as 0 with is_nan, as MLflow's SQL store does
    assert values[1] == math.inf and values[2] == -math.inf
    assert math.copysign(1.0, values[3]) == -1.0
    assert values[4] == 5e-324
    assert values[5] == 1.7976931348623157e308
    assert values[6] == -42.0


def test_big_and_negative_steps_and_timestamps() -> None:
    text = f"0 1.0 {2**62}\n-5 2.0 -3\n"

    assert [(p[2], p[4]) for p in _points(_file(text))] == [(0, 2**62), (-5, -3)]


@pytest.mark.parametrize(
    "text",
    ["1 1.0 0\n2 2.0 1\n", "1 1.0 0\n2 2.0 1", "1 1.0 0\r\n2 2.0 1\r\n"],
    ids=["trailing-newline", "no-trailing-newline", "crlf"],
)
def test_line_endings(text: str) -> None:
    assert [(p[2], p[3], p[4]) for p in _points(_file(text))] == [(1, 1.0, 0), (2, 2.0, 1)]


def test_many_files_keep_their_keys_and_owners() -> None:
    files = [_file("1 1.0 0\n2 2.0 1\n", "a", "r1"), _file("3 3.0 0\n", "b/c", "r2")]

    assert [(p[0], p[1], p[2]) for p in _points(*files)] == [("r1", "a", 1), ("r1", "a", 2), ("r2", "b/c", 3)]


def test_no_files() -> None:
    table = parse_run_metrics([])
    assert table.num_rows == 0
    assert table.column_names == ["key", "value", "timestamp", "run_uuid", "step", "is_nan"]


@pytest.mark.parametrize(
    ("text", "line", "problem"),
    [
        ("1 1.0 0\n123 notanumber 0\n", 2, "value is not a number"),
        ("1 1.0 0 x\n", 1, "expected 2, 3 or 5"),
        ("1 1.0 0\n2 2.0 1\n3 3.0 2 x y z\n", 3, "expected 2, 3 or 5"),
        ("1\n", 1, "expected 2, 3 or 5"),
        ("1 1.0 0\n\n2 2.0 1\n", 2, "expected 2, 3 or 5"),  # a blank line in the middle
        ("1.5 1.0 0\n", 1, "timestamp is not a number"),
        ("1 1.0 1.5\n", 1, "step is not a number"),
        ("1 1.0  0\n", 1, "expected 2, 3 or 5"),  # two spaces make an empty field
    ],
    ids=[
        "bad-value",
        "four-fields",
        "six-fields",
        "one-field",
        "blank-line",
        "float-ts",
        "float-step",
        "double-space",
    ],
)
def test_malformed_line_names_path_and_line(text: str, line: int, problem: str) -> None:
    good = _file("1 1.0 0\n", "fine", path="/mlruns/1/run1/metrics/fine")
    bad = _file(text, "broken", path="/mlruns/1/run1/metrics/broken")

    with pytest.raises(SourceFormatError) as raised:
        parse_run_metrics([good, bad])

    assert str(raised.value).startswith(f"/mlruns/1/run1/metrics/broken:{line}: "), str(raised.value)
    assert problem in str(raised.value)
    assert (raised.value.path, raised.value.line) == ("/mlruns/1/run1/metrics/broken", line)


@pytest.mark.parametrize("text", ["", "\n", "   \n"], ids=["empty", "newline", "blank"])
def test_file_without_points_is_an_error(text: str) -> None:
    with pytest.raises(SourceFormatError, match=r"^/mlruns/1/run1/metrics/loss: "):
        parse_run_metrics([_file(text)])


def _latest(*files: MetricFile) -> dict[tuple[str, str], tuple]:
    table = latest_points(parse_run_metrics(list(files)))
    return {
        (row["run_uuid"], row["key"]): (row["step"], row["timestamp"], row["value"], row["is_nan"])
        for row in table.to_pylist()
    }


def test_latest_point_is_max_of_step_then_timestamp_then_value() -> None:
    files = [
        _file("1 1.0 5\n9 2.0 3\n", "by_step"),  # later timestamp, smaller step
        _file("5 1.0 2\n9 0.5 2\n7 3.0 2\n", "by_timestamp"),
        _file("5 1.0 2\n5 3.0 2\n5 2.0 2\n", "by_value"),
    ]

    assert _latest(*files) == {
        ("run1", "by_step"): (5, 1, 1.0, False),
        ("run1", "by_timestamp"): (2, 9, 0.5, False),
        ("run1", "by_value"): (2, 5, 3.0, False),
    }


#: tied points (one step and timestamp) and a point before them, in every order below
_TIED = ["5 nan 2", "5 1.0 2", "5 -1.0 2", "5 -0.0 2", "5 0.0 2", "1 7.0 1"]


@pytest.mark.parametrize(
    "lines",
    [list(order) for size in (2, 3) for order in itertools.permutations(_TIED, size)],
    ids=lambda lines: " | ".join(lines),
)
def test_latest_point_of_ties_is_the_one_mlflows_filestore_returns(lines: list[str], tmp_path) -> None:
    from mlflow.store.tracking.file_store import FileStore

    text = "\n".join(lines) + "\n"
    (tmp_path / "loss").write_text(text)
    theirs = FileStore._get_metric_from_file(str(tmp_path), "loss", "run1", "1")

    mine = _latest(_file(text))[("run1", "loss")]

    nan = math.isnan(theirs.value)
    assert mine[:2] == (theirs.step, theirs.timestamp) and mine[3] == nan
    if not nan:  # the very float, -0.0 apart from 0.0
        assert math.copysign(1.0, mine[2]) == math.copysign(1.0, theirs.value) and mine[2] == theirs.value


def test_points_keep_their_file_order() -> None:
    text = "9 1.0 5\n1 2.0 -9223372036854775808\n5 nan 2\n5 3.0 2\n"

    assert [(p[2], p[4]) for p in _points(_file(text))] == [(9, 5), (1, -(2**63)), (5, 2), (5, 2)]


def test_latest_point_per_run_and_key() -> None:
    files = [_file("1 1.0 0\n", "k", "r1"), _file("2 2.0 0\n", "k", "r2"), _file("3 3.0 0\n", "j", "r1")]

    assert _latest(*files) == {
        ("r1", "j"): (0, 3, 3.0, False),
        ("r1", "k"): (0, 1, 1.0, False),
        ("r2", "k"): (0, 2, 2.0, False),
    }


def test_latest_of_nothing_is_empty() -> None:
    assert latest_points(parse_run_metrics([])).num_rows == 0
