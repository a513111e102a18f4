"""``sync``: catch-up passes found by the stores' watermarks while a writer keeps logging through
the real mlflow client, then a final pass that leaves no difference MlflowClient can see."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest
from cli_helpers import count, invoke, sqlite_uri
from contract.kinds import tolerances
from mlflow_compare import compare_stores, normalize_uri

import mlmigrate
from mlmigrate.engine.status import status
from mlmigrate.engine.sync import sync
from mlmigrate.exceptions import UsageError
from mlmigrate.stores.sql.watermarks import COUNTED_PER_RUN, RULES
from mlmigrate.tables import EXPERIMENT, REGISTERED_MODEL, tables_of

WRITER = Path(__file__).with_name("sync_writer.py")


def _source(kind: str, minimal_store: Path, request: pytest.FixtureRequest) -> str:
    if kind == "filestore":
        return str(minimal_store)
    source: str = request.getfixturevalue("postgres_db")
    mlmigrate.copy(str(minimal_store), source)  # MLflow's schema and some data to start from
    return source


def _destination(kind: str, tmp_path: Path) -> str:
    return sqlite_uri(tmp_path / "copy.db") if kind == "sqlite" else str(tmp_path / "copy-mlruns")


@pytest.mark.parametrize(
    ("source_kind", "destination_kind"),
    [("postgresql", "sqlite"), ("filestore", "filestore")],
)
def test_sync_under_a_live_writer_ends_with_no_difference(
    source_kind: str,
    destination_kind: str,
    minimal_store: Path,
    tmp_path: Path,
    request: pytest.FixtureRequest,
) -> None:
    source = _source(source_kind, minimal_store, request)
    destination = _destination(destination_kind, tmp_path)
    stop, ready, go = tmp_path / "stop", tmp_path / "ready", tmp_path / "go"
    writer = subprocess.Popen(
        [sys.executable, str(WRITER), normalize_uri(source), str(stop), str(ready), str(go)]
    )
    passes = []
    try:
        deadline = time.monotonic() + 120
        passes += sync(source, destination).passes  # the bulk copy, while the writer writes
        while not ready.exists() or len(passes) < 3:
            assert writer.poll() is None, "the writer died"
            assert time.monotonic() < deadline, "the writer did not get through its rounds"
            passes += sync(source, destination).passes
            copied = {unit["unit_id"] for unit in status(passes[-1]["migration_id"]).units}
            if "registered_model:sync-old" in copied:
                go.touch()  # the writer may rename it now: it is in the destination under its old name
        assert writer.poll() is None, "the writer must still be writing during the passes"
    finally:
        stop.touch()
        writer.wait(60)
    assert writer.returncode == 0

    final = sync(source, destination, final=True).as_dict()

    assert final["ok"], final
    assert final["verify"]["ok"], final["verify"]["mismatches"]
    assert final["switch_to"] == destination
    assert final["lag"]["units"] >= 1  # the writer's last round and the long run's end
    assert [p["kind"] for p in passes][:1] == ["copy"]
    catch_ups = passes[1:] + final["passes"]
    # watermarks told the units apart; only a unit that appeared after a pass's first look (the
    # writer makes 5) has none yet and is digested once by the next pass
    assert sum(p["by_watermark"] for p in catch_ups) > 0, catch_ups
    assert sum(p["by_digest"] for p in catch_ups) <= 5, catch_ups
    assert any(p["units_changed"] for p in catch_ups)
    removed = [unit for p in catch_ups for unit in p["removed"]]
    assert "registered_model:sync-old" in removed, catch_ups  # renamed: gone under its old name
    differences = compare_stores(
        source,
        destination,
        tolerate=tolerances(destination),
        ordered_histories=destination_kind == "filestore" and source_kind == "filestore",
    )
    assert differences == []
    # every pass is in the journal, and nothing is left to do
    recorded = status(final["migration_id"]).migrations[0]["passes"]
    assert len(recorded) == len(passes) + 1
    assert [p["kind"] for p in recorded][-1] == "final"
    again = sync(source, destination).passes[0]
    assert (again["status"], again["rows"]) == ("up-to-date", 0)


def test_sync_cli_final_prints_lag_and_switch_and_status_shows_passes(
    minimal_store: Path, tmp_path: Path
) -> None:
    destination = sqlite_uri(tmp_path / "cli.db")
    first = invoke("sync", str(minimal_store), destination)
    assert first.returncode == 0, first.stderr
    assert "copy pass: done" in first.stderr
    run = next(tags.parent for tags in minimal_store.glob("[0-9]*/*/tags"))
    (run / "tags" / "added").write_text("x")  # a tag added beside MLflow, stat alone sees it

    final = invoke("sync", str(minimal_store), destination, "--final", "--json")

    assert final.returncode == 0, final.stderr
    assert "final pass: done, 1 changed, 0 new, 0 removed" in final.stderr, final.stderr
    assert "lag closed: 1 unit(s)" in final.stderr
    assert f"MLFLOW_TRACKING_URI={destination}" in final.stderr
    migration_id = json.loads(final.stdout)["migration_id"]
    shown = invoke("status", migration_id)
    assert "copy" in shown.stdout and "final" in shown.stdout, shown.stdout
    undone = invoke("rollback", migration_id)  # still removes exactly what the passes wrote
    assert undone.returncode == 0, undone.stderr
    assert count(destination, "runs") == 0


def test_sync_refuses_a_pair_outside_mlflow_naming_why(tmp_path: Path) -> None:
    import sqlite3

    with sqlite3.connect(tmp_path / "plain.db") as connection:
        connection.execute("CREATE TABLE t (id INTEGER PRIMARY KEY)")
    with pytest.raises(UsageError, match="sync is for MLflow stores"):
        sync(sqlite_uri(tmp_path / "plain.db"), sqlite_uri(tmp_path / "other.db"))
    with pytest.raises(UsageError, match="--watch"):
        sync(sqlite_uri(tmp_path / "plain.db"), sqlite_uri(tmp_path / "other.db"), watch=0)


def test_every_table_of_a_sql_unit_has_a_watermark_rule() -> None:
    asked = {table for _, needs, _ in RULES for table in needs} | COUNTED_PER_RUN
    for kind in (EXPERIMENT, REGISTERED_MODEL):
        missing = {spec.name for spec in tables_of(kind)} - asked
        assert missing == set(), f"{kind}: {missing} change without moving a watermark"


def test_sync_refuses_a_tracking_server_over_rest_before_connecting(minimal_store: Path) -> None:
    with pytest.raises(UsageError, match="tracking server cannot be synced into: it cannot remove one unit"):
        sync(str(minimal_store), "http://127.0.0.1:1")


def test_sync_into_mongodb_catches_up_a_changed_run(minimal_store: Path, secantus_server: object) -> None:
    destination = secantus_server.uri()  # type: ignore[attr-defined]
    assert sync(str(minimal_store), destination).passes[0]["kind"] == "copy"
    run = next(tags.parent for tags in minimal_store.glob("[0-9]*/*/tags"))
    (run / "tags" / "added").write_text("x")

    final = sync(str(minimal_store), destination, final=True).as_dict()

    assert final["passes"][0]["units_changed"] == 1, final["passes"]
    assert final["verify"]["ok"], final["verify"]["mismatches"]


def test_sync_from_mongodb_finds_a_changed_run_by_its_watermark(
    minimal_store: Path, secantus_server: object, tmp_path: Path
) -> None:
    import pymongo

    source = secantus_server.uri()  # type: ignore[attr-defined]
    mlmigrate.copy(str(minimal_store), source)
    destination = sqlite_uri(tmp_path / "from-mongo.db")
    sync(source, destination)
    assert sync(source, destination).passes[0]["status"] == "up-to-date"
    client: pymongo.MongoClient = pymongo.MongoClient(source)
    try:
        runs = client.get_default_database()["runs"]
        run = runs.find_one({})
        assert run is not None
        runs.update_one({"_id": run["_id"]}, {"$set": {"status": "KILLED"}})
    finally:
        client.close()

    final = sync(source, destination, final=True).as_dict()

    assert (final["passes"][0]["units_changed"], final["passes"][0]["by_digest"]) == (1, 0), final["passes"]
    assert final["verify"]["ok"], final["verify"]["mismatches"]
