"""The copy contract, checked on every destination: the edge-case store arrives equal as MLflow
reads it, re-runs are no-ops, verify catches tampering, ids behave, and MLflow keeps working."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest
from cli_helpers import engine_for, execute, query, row_counts, run_cli, show, sqlite_uri, squash
from edge_store import EXPERIMENT_NAMES, MODEL_NAMES
from mlflow_compare import SQLITE_DESTINATION_TOLERANCES, compare_stores, normalize_uri

import mlmigrate

#: inf must survive on both destinations, so "inf-as-max-float" is never tolerated here.
TOLERANCES = {
    "sqlite": SQLITE_DESTINATION_TOLERANCES - {"inf-as-max-float"},
    "postgresql": frozenset({"duplicate-metric-points", "model-version-model-id"}),
}


@pytest.fixture(params=["sqlite", "postgresql"])
def destination(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """An empty destination URI of each supported kind."""
    if request.param == "sqlite":
        return sqlite_uri(tmp_path / "dst.db")
    return request.getfixturevalue("postgres_db")


def _kind(uri: str) -> str:
    return "sqlite" if uri.startswith("sqlite") else "postgresql"


@pytest.fixture
def migrated(edge_store: Path, destination: str) -> tuple[str, dict[str, Any]]:
    """The edge store copied into ``destination`` through the library; (destination, report)."""
    report = mlmigrate.copy(str(edge_store), destination)
    return destination, report.as_dict()


def _client(uri: str) -> Any:
    from mlflow import MlflowClient

    uri = normalize_uri(uri)
    return MlflowClient(tracking_uri=uri, registry_uri=uri)


def _source_experiment_ids(mlruns: Path) -> set[int]:
    folders = [*mlruns.iterdir(), *(mlruns / ".trash").iterdir()]
    return {int(p.name) for p in folders if p.is_dir() and p.name.isdigit()}


def test_edge_store_arrives_equal_as_mlflow_reads_it(
    edge_store: Path, migrated: tuple[str, dict[str, Any]]
) -> None:
    destination, report = migrated

    assert report["status"] == "done", report
    assert report["verify"]["ok"], report["verify"]["mismatches"]
    assert report["skipped_units"] == [] and report["failed_units"] == []
    # the edge store logs exactly one exact duplicate metric point; the SQL key collapses it
    assert report["collapsed_duplicates"] == {"metrics": 1}
    differences = compare_stores(edge_store.as_uri(), destination, tolerate=TOLERANCES[_kind(destination)])
    assert differences == []


def test_special_floats_survive_exactly(migrated: tuple[str, dict[str, Any]]) -> None:
    """±inf and the extreme finite values are stored as themselves, not clamped."""
    destination, _ = migrated
    rows = query(
        destination,
        "SELECT key, value, is_nan FROM metrics WHERE key IN ('only_inf', 'only_neg_inf', 'only_nan')",
    )
    by_key = {key: (value, is_nan) for key, value, is_nan in rows}

    assert by_key["only_inf"][0] == float("inf")
    assert by_key["only_neg_inf"][0] == float("-inf")
    assert bool(by_key["only_nan"][1]) is True


def test_rerun_is_up_to_date_and_writes_nothing(
    edge_store: Path, migrated: tuple[str, dict[str, Any]]
) -> None:
    destination, first = migrated
    before = row_counts(destination)

    again = mlmigrate.copy(str(edge_store), destination).as_dict()

    assert again["status"] == "up-to-date", again
    assert again["migration_id"] == first["migration_id"]
    assert again["rows_written"] == 0
    assert row_counts(destination) == before
    assert before["runs"] > 0 and before["metrics"] > 1000


def test_verify_cli_passes_then_catches_a_tampered_param(
    edge_store: Path, migrated: tuple[str, dict[str, Any]]
) -> None:
    destination, _ = migrated

    clean = run_cli("verify", str(edge_store), destination)
    assert clean.returncode == 0, show(clean)

    changed = execute(
        destination,
        "UPDATE params SET value = 'tampered' WHERE key = 'run_key' AND value = 'parent'",
    )
    assert changed == 1

    tampered = run_cli("verify", str(edge_store), destination, "--json")
    assert tampered.returncode == 3, show(tampered)
    assert "params" in tampered.stderr, show(tampered)
    mismatched_tables = {m["table"] for m in json.loads(tampered.stdout)["mismatches"]}
    assert mismatched_tables == {"params"}


def test_experiment_ids_remapped_on_postgresql_and_kept_on_sqlite(
    edge_store: Path, migrated: tuple[str, dict[str, Any]]
) -> None:
    destination, report = migrated
    id_map = report["experiment_id_map"]
    source_ids = _source_experiment_ids(edge_store)
    dest_ids = {int(row[0]) for row in query(destination, "SELECT experiment_id FROM experiments")}
    client = _client(destination)

    if _kind(destination) == "sqlite":
        # the 18-digit FileStore ids are kept, and MLflow finds every experiment under them
        assert id_map == {}
        assert dest_ids == source_ids
        for name in EXPERIMENT_NAMES.values():
            assert int(client.get_experiment_by_name(name).experiment_id) in source_ids, name
        return

    # PostgreSQL: every 18-digit id was remapped into int4; Default (0) keeps its id
    assert {int(s) for s in id_map} == source_ids - {0}
    assert all(0 < int(d) < 2**31 for d in id_map.values())
    assert dest_ids == {0} | {int(d) for d in id_map.values()}
    # the map is saved beside the journal
    saved = json.loads(Path(report["experiment_id_map_file"]).read_text())
    assert saved == {"source_to_destination": id_map}
    # the id sequence was advanced: MLflow can create experiments after the migration
    new_id = client.create_experiment("after")
    assert int(new_id) > max(dest_ids)
    assert client.get_experiment(new_id).name == "after"


def test_new_model_version_continues_numbering_after_deleted_version(
    edge_store: Path, migrated: tuple[str, dict[str, Any]], tmp_path: Path
) -> None:
    """Version 3 of the main model was deleted; the next version is 5 in both stores."""
    destination, _ = migrated
    name = MODEL_NAMES["main"]
    source_copy = tmp_path / "source-copy" / "mlruns"
    shutil.copytree(edge_store, source_copy)

    numbers = {}
    for label, uri in (("source", source_copy.as_uri()), ("destination", destination)):
        client = _client(uri)
        latest = client.get_model_version(name, "4")
        created = client.create_model_version(name, source=latest.source, run_id=latest.run_id)
        numbers[label] = str(created.version)

    assert numbers == {"source": "5", "destination": "5"}


def test_destination_schema_is_at_mlflow_head(migrated: tuple[str, dict[str, Any]]) -> None:
    """``mlflow server`` refuses a database whose schema is not at head; this one is."""
    from mlflow.store.db.utils import _verify_schema

    destination, _ = migrated
    engine = engine_for(destination)
    try:
        _verify_schema(engine)
    finally:
        engine.dispose()


def test_verify_cli_output_names_the_table(edge_store: Path, migrated: tuple[str, dict[str, Any]]) -> None:
    """A deleted metric row is reported as a row-count difference of ``metrics``."""
    destination, _ = migrated
    execute(destination, "DELETE FROM metrics WHERE key = 'single'")

    result = run_cli("verify", str(edge_store), destination)

    assert result.returncode == 3, show(result)
    assert "metrics:rowcountsdiffer" in squash(result.stderr), show(result)
