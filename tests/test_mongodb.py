"""MLflow on MongoDB: the edge-case store through PostgreSQL into MongoDB (the mlflow-mongodb
plugin's layout) and back out to SQLite, equal as MLflow reads it at every hop."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pytest
from cli_helpers import sqlite_uri
from mlflow_compare import compare_stores

import mlmigrate

#: the SQL hop collapses the one exact duplicate point, and SQL has no ModelVersion.model_id
MONGO_TOLERANCES = frozenset({"duplicate-metric-points", "model-version-model-id"})


@pytest.fixture(scope="module")
def through_postgres(
    edge_store: Path,
    postgres_server_handle: Any,
    secantus_server: Any,
    tmp_path_factory: pytest.TempPathFactory,
) -> dict[str, Any]:
    """edge store → PostgreSQL → MongoDB (SecantusDB) → SQLite, with each copy's report."""
    postgres = postgres_server_handle.create_database()
    mongo = secantus_server.uri()
    sqlite = sqlite_uri(tmp_path_factory.mktemp("back") / "back.db")
    state = tmp_path_factory.mktemp("state")
    reports = {
        "postgres": mlmigrate.copy(str(edge_store), postgres, state_dir=state).as_dict(),
        "mongo": mlmigrate.copy(postgres, mongo, state_dir=state, batch_size=7).as_dict(),
        "sqlite": mlmigrate.copy(mongo, sqlite, state_dir=state).as_dict(),
    }
    yield {"postgres": postgres, "mongo": mongo, "sqlite": sqlite, "reports": reports}
    postgres_server_handle.drop_database(postgres)


def test_every_hop_is_done_and_verified(through_postgres: dict[str, Any]) -> None:
    for hop, report in through_postgres["reports"].items():
        assert report["status"] == "done", (hop, report)
        assert report["verify"]["ok"], (hop, report["verify"]["mismatches"])
        assert report["failed_units"] == [], hop


def test_postgres_to_mongodb_to_sqlite_has_no_differences(through_postgres: dict[str, Any]) -> None:
    differences = compare_stores(
        through_postgres["postgres"], through_postgres["sqlite"], tolerate={"negative-zero", "nan-as-null"}
    )
    assert differences == []


def test_the_mongodb_hop_read_through_the_plugin_equals_the_source(
    edge_store: Path, through_postgres: dict[str, Any]
) -> None:
    """``MlflowClient("mongodb://…")`` (the mlflow-mongodb plugin) serves the migrated data."""
    differences = compare_stores(through_postgres["postgres"], through_postgres["mongo"])
    assert differences == [], "\n".join(differences)
    assert compare_stores(edge_store.as_uri(), through_postgres["mongo"], tolerate=MONGO_TOLERANCES) == []


def test_nan_and_infinities_are_bson_doubles(through_postgres: dict[str, Any]) -> None:
    import pymongo

    client = pymongo.MongoClient(through_postgres["mongo"])
    try:
        points = client.get_default_database()["run_metrics"]
        by_key = {
            d["k"]: d["v"] for d in points.find({"k": {"$in": ["only_inf", "only_neg_inf", "only_nan"]}})
        }
    finally:
        client.close()
    assert by_key["only_inf"] == math.inf
    assert by_key["only_neg_inf"] == -math.inf
    assert math.isnan(by_key["only_nan"])
