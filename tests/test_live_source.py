"""Copying from a database that another process keeps writing to through the real mlflow client:
the copy is one consistent snapshot, and a re-run picks up what was written since."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest
from cli_helpers import count, query, sqlite_uri
from contract.kinds import tolerances
from mlflow_compare import compare_stores, normalize_uri

import mlmigrate

WRITER = Path(__file__).with_name("live_writer.py")


def _runs_per_experiment(uri: str) -> dict[str, int]:
    rows = query(
        uri,
        "SELECT e.name, COUNT(r.run_uuid) FROM experiments e LEFT JOIN runs r "
        "ON r.experiment_id = e.experiment_id WHERE e.name LIKE 'live-%' GROUP BY e.name",
    )
    return {name: int(number) for name, number in rows}


@pytest.mark.parametrize("kind", ["postgresql"])  # SQLite's snapshot is a backup copy: see semantics.md
def test_copy_of_a_live_database_is_one_snapshot_and_a_rerun_catches_up(
    kind: str, minimal_store: Path, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    source = (
        request.getfixturevalue("postgres_db") if kind == "postgresql" else sqlite_uri(tmp_path / "live.db")
    )
    mlmigrate.copy(str(minimal_store), source)
    stop = tmp_path / "stop"
    writer = subprocess.Popen([sys.executable, str(WRITER), normalize_uri(source), str(stop)])
    try:
        deadline = time.monotonic() + 120
        while _runs_per_experiment(source).get("live-b", 0) < 2:
            assert writer.poll() is None, "the writer died"
            assert time.monotonic() < deadline, "the writer made no runs"
            time.sleep(0.2)
        destination = sqlite_uri(tmp_path / "copy.db")

        first = mlmigrate.copy(source, destination).as_dict()

        assert writer.poll() is None, "the writer must still be writing during the copy"
    finally:
        stop.touch()
        writer.wait(60)
    assert first["status"] == "done", first
    assert first["verify"]["ok"], first["verify"]["mismatches"]
    # one point in time for both experiments: live-a was always written first
    copied = _runs_per_experiment(destination)
    assert copied["live-a"] - copied["live-b"] in (0, 1), copied
    # and within every run: metrics and latest_metrics agree
    mismatched = query(
        destination,
        "SELECT l.run_uuid FROM latest_metrics l JOIN (SELECT run_uuid, MAX(step) AS top, COUNT(*) AS n "
        "FROM metrics GROUP BY run_uuid) m ON m.run_uuid = l.run_uuid "
        "WHERE l.step != m.top OR m.n != m.top + 1",
    )
    assert mismatched == []
    assert _runs_per_experiment(source)["live-b"] > copied["live-b"], "the writer went on after the snapshot"

    second = mlmigrate.copy(source, destination).as_dict()

    assert second["status"] == "done", second
    assert second["migration_id"] == first["migration_id"]
    assert second["verify"]["ok"], second["verify"]["mismatches"]
    assert count(destination, "runs") == count(source, "runs")
    differences = compare_stores(source, destination, tolerate=tolerances(destination))
    assert differences == []
    third = mlmigrate.copy(source, destination).as_dict()
    assert third["status"] == "up-to-date", third
