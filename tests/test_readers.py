"""Helper processes read units ahead of the writers: every writer gets exactly its unit's rows,
whatever the others do (share a helper, give up half-way, never read)."""

from __future__ import annotations

from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from mlmigrate.engine.readers import ReaderPool, UnitResult, UnitTask, read_shaped
from mlmigrate.stores import open_store


@pytest.fixture
def tasks_and_truth(edge_store: Path) -> tuple[str, list[UnitTask], dict[str, Counter[str]]]:
    source = open_store(str(edge_store))
    tasks = [UnitTask(unit, unit.source_id) for unit in source.units()]
    truth = {}
    for task in tasks:
        counts: Counter[str] = Counter()
        for table, batch in read_shaped(source, task, UnitResult()):
            counts[table] += batch.num_rows
        truth[task.unit.unit_id] = counts
    return str(edge_store), tasks, truth


def _rows(pool: ReaderPool, task: UnitTask) -> Counter[str]:
    counts: Counter[str] = Counter()
    result = UnitResult()
    try:
        for table, batch in pool.read(task, result):
            counts[table] += batch.num_rows
    finally:
        pool.done(task.unit.unit_id)
    assert set(result.digests) == set(counts)
    return counts


@pytest.mark.parametrize("processes", [1, 2])
def test_writers_sharing_helpers_each_get_exactly_their_unit(tasks_and_truth, processes: int) -> None:
    uri, tasks, truth = tasks_and_truth
    pool = ReaderPool(open_store(uri), uri, processes=processes)
    pool.assign(tasks)
    try:
        with ThreadPoolExecutor(max_workers=3) as writers:
            got = dict(
                zip(
                    (t.unit.unit_id for t in tasks), writers.map(lambda t: _rows(pool, t), tasks), strict=True
                )
            )
    finally:
        pool.close()
    assert got == truth


def test_a_writer_that_gives_up_or_never_reads_does_not_starve_the_next(tasks_and_truth) -> None:
    uri, tasks, truth = tasks_and_truth
    experiments = [t for t in tasks if truth[t.unit.unit_id]["runs"]]
    assert len(experiments) >= 3
    first, second, third = experiments[:3]
    pool = ReaderPool(open_store(uri), uri, processes=1)
    pool.assign([first, second, third])
    try:
        stream = pool.read(first, UnitResult())
        next(stream)  # one batch, then give up half-way
        stream.close()
        pool.done(first.unit.unit_id)
        pool.done(second.unit.unit_id)  # taken but never read (its write failed before reading)
        assert _rows(pool, third) == truth[third.unit.unit_id]
        # asking again for a unit already handed out reads it in this process
        assert _rows(pool, first) == truth[first.unit.unit_id]
    finally:
        pool.close()


_HELPER_START = """
import os, sys
from mlmigrate.engine.helper_process import start_helper
start_helper(os.getppid())
import pyarrow as pa
pa.array([1, None]).fill_null(0)
pa.RecordBatch.from_pylist([{"a": 1}])
kept_out = "pandas" not in sys.modules
import pandas  # still importable for whoever needs it
print(kept_out, pandas.__name__)
"""


def test_a_helper_builds_arrays_without_importing_pandas() -> None:
    """pyarrow would import pandas (0.3 s of CPU per helper) at its first array built from Python."""
    import subprocess
    import sys

    done = subprocess.run([sys.executable, "-c", _HELPER_START], capture_output=True, text=True, check=True)
    assert done.stdout.split() == ["True", "pandas"], done.stderr
