"""MLflow on MongoDB: the edge-case store through PostgreSQL into MongoDB (the mlflow-mongodb
plugin's layout) and back out to SQLite, equal as MLflow reads it at every hop."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pytest
from cli_helpers import sqlite_uri
from contract.kinds import tolerances
from mlflow_compare import compare_stores

import mlmigrate


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
        through_postgres["postgres"],
        through_postgres["sqlite"],
        tolerate=tolerances(through_postgres["sqlite"]),
    )
    assert differences == []


def test_the_mongodb_hop_read_through_the_plugin_equals_the_source(
    edge_store: Path, through_postgres: dict[str, Any]
) -> None:
    """``MlflowClient("mongodb://…")`` (the mlflow-mongodb plugin) serves the migrated data."""
    differences = compare_stores(through_postgres["postgres"], through_postgres["mongo"])
    assert differences == [], "\n".join(differences)
    assert (
        compare_stores(
            edge_store.as_uri(),
            through_postgres["mongo"],
            tolerate=tolerances(through_postgres["postgres"], through_postgres["mongo"]),
        )
        == []
    )


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


def test_round_trip_and_rerun_on_nx27017(minimal_store: Path, nx_server: Any, tmp_path: Path) -> None:
    """The contract (tests/contract runs it on SecantusDB) on the second wire-protocol server:
    equal as MLflow reads it (back out through SQLite), a re-run writes nothing, and verify
    catches a tampered document. nx-27017 keeps documents as JSON, which has no NaN or
    infinity, so it gets the minimal store."""
    import pymongo
    from cli_helpers import invoke, show

    source, mongo = minimal_store, nx_server.uri()
    first = mlmigrate.copy(str(source), mongo).as_dict()
    assert first["status"] == "done" and first["verify"]["ok"], first["verify"]

    back = sqlite_uri(tmp_path / "back.db")
    assert mlmigrate.copy(mongo, back).as_dict()["status"] == "done"
    assert compare_stores(source.as_uri(), back, tolerate=tolerances(mongo, back)) == []

    client = pymongo.MongoClient(mongo)
    database = client.get_default_database()
    before = {name: database[name].count_documents({}) for name in database.list_collection_names()}
    again = mlmigrate.copy(str(source), mongo).as_dict()
    assert again["status"] == "up-to-date" and again["rows_written"] == 0
    assert {name: database[name].count_documents({}) for name in before} == before

    run = next(r for r in database["runs"].find() if r["params"])
    params = [{**p, "v": "tampered"} if i == 0 else p for i, p in enumerate(run["params"])]
    database["runs"].update_one({"_id": run["_id"]}, {"$set": {"params": params}})
    client.close()
    tampered = invoke("verify", str(source), mongo)
    assert tampered.returncode == 3, show(tampered)
    assert "params" in tampered.stderr


def test_plan_counts_and_copy_cli_with_batch_size(minimal_store: Path, secantus_server: Any) -> None:
    from cli_helpers import invoke, show, squash

    mongo = secantus_server.uri()
    planned = invoke("plan", str(minimal_store), mongo)
    assert planned.returncode == 0, show(planned)
    assert "Total records to migrate:" in planned.stdout
    import pymongo

    client = pymongo.MongoClient(mongo)
    assert client.get_default_database().list_collection_names() == [], "plan wrote something"
    copied = invoke("copy", str(minimal_store), mongo, "--batch-size", "3", "--json")
    assert copied.returncode == 0, show(copied)
    assert client.get_default_database()["runs"].count_documents({}) == 2
    bad = invoke("copy", str(minimal_store), mongo, "--batch-size", "0")
    assert bad.returncode == 2, show(bad)

    # validate_data: every run's experiment and every version's model must exist
    database = client.get_default_database()
    run = database["runs"].find_one()
    experiment = database["experiments"].find_one({"_id": run["experiment_id"]})
    database["experiments"].delete_one({"_id": experiment["_id"]})
    database["experiments"].insert_one({**experiment, "_id": "999"})  # digests equal, references not
    database["model_versions"].update_many({}, {"$set": {"registered_model_id": "gone"}})
    client.close()
    dangling = invoke("verify", str(minimal_store), mongo)
    assert dangling.returncode == 3, show(dangling)
    text = squash(dangling.stderr)
    assert squash(f"2 runs document(s) of experiment {run['experiment_id']}, which is missing") in text
    assert "ofregisteredmodel_idgone,whichismissing" in text


@pytest.mark.parametrize(
    "uri",
    [
        "mongodb+srv://app:s3cret@cluster0.example.net/mlflow?retryWrites=true&w=majority",
        "mongodb://app:s3cret@cosmos.example.com:10255/mlflow?ssl=true&replicaSet=globaldb",
    ],
)
def test_cosmos_and_srv_uris_open_without_connecting_and_mask_the_password(uri: str) -> None:
    from mlmigrate.stores import open_store
    from mlmigrate.stores.kinds import canonical
    from mlmigrate.uris import mask

    store = open_store(uri)
    try:
        assert store.database_name == "mlflow"
        assert "s3cret" not in store.display_uri and "***" in store.display_uri
        assert "s3cret" not in canonical(uri) and "s3cret" not in mask(uri)
    finally:
        store.close()


def test_a_mongodb_uri_without_a_database_is_a_usage_error() -> None:
    from mlmigrate.exceptions import UsageError
    from mlmigrate.stores import open_store

    with pytest.raises(UsageError, match="must name the database"):
        open_store("mongodb://app:pw@localhost:27017/?ssl=true")


def test_a_database_the_plugin_already_initialised_is_copied_into(
    minimal_store: Path, secantus_server: Any
) -> None:
    """An ``mlflow server`` with the plugin started on the database first: its empty ``Default``
    experiment (and indexes) are there; the copy replaces the empty experiment and the plugin's
    indexes stay as they are."""
    import pymongo
    from mlflow import MlflowClient

    mongo = secantus_server.uri()
    client = MlflowClient(tracking_uri=mongo, registry_uri=mongo)
    assert [e.name for e in client.search_experiments()] == ["Default"]
    client.search_registered_models()
    database = pymongo.MongoClient(mongo).get_default_database()
    indexes = {name: database[name].index_information() for name in database.list_collection_names()}

    report = mlmigrate.copy(str(minimal_store), mongo).as_dict()

    assert report["status"] == "done" and report["verify"]["ok"], report
    assert any("replaced" in note for note in report["notes"]), report["notes"]
    assert {name: database[name].index_information() for name in indexes} == indexes
    assert compare_stores(minimal_store.as_uri(), mongo, tolerate=tolerances(mongo)) == []
    database.client.close()
