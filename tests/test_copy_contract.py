"""What the SQL destinations add to the contract suite (tests/contract runs the round trip, the
re-run and verify's tampering check on every kind): special floats stored as themselves, ids
kept or remapped, the schema at MLflow's head, MLflow working on after the copy."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest
from cli_helpers import engine_for, execute, query, run_cli, show, sqlite_uri, squash
from edge_store import EXPERIMENT_NAMES, MODEL_NAMES
from mlflow_compare import normalize_uri

import mlmigrate


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
