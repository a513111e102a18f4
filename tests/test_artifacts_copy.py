"""Copying artifacts with a migration: to S3 (moto), GCS (emulator), Azure (Azurite) and local
folders; the MLflow client reads the same bytes and models through the destination."""

from __future__ import annotations

import contextlib
import sqlite3
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from edge_store import _mlflow_uri as mlflow_at

import mlmigrate


def _files(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def _artifact_files(store: dict[str, Any]) -> dict[str, bytes]:
    """Every artifact file of the source store, relative to its mlruns folder."""
    mlruns: Path = store["mlruns"]
    found: dict[str, bytes] = {}
    for folder in mlruns.rglob("artifacts"):
        for name, data in _files(folder).items():
            found[str((folder / name).relative_to(mlruns))] = data
    return found


@pytest.fixture
def s3_env(s3_server: Any, monkeypatch: pytest.MonkeyPatch) -> Any:
    for name, value in s3_server.env().items():
        monkeypatch.setenv(name, value)
    return s3_server


def test_filestore_to_sqlite_with_artifacts_on_s3(
    artifact_store: dict[str, Any], s3_env: Any, tmp_path: Path
) -> None:
    bucket = f"b-{uuid.uuid4().hex[:8]}"
    s3_env.client().create_bucket(Bucket=bucket)
    db = f"sqlite:///{tmp_path / 'dst.db'}"

    report = mlmigrate.copy(str(artifact_store["mlruns"]), db, artifacts_to=f"s3://{bucket}/mlflow")

    assert report.status == "done", report.as_dict()
    expected = _artifact_files(artifact_store)
    listed = s3_env.client().list_objects_v2(Bucket=bucket, Prefix="mlflow/")
    keys = {item["Key"][len("mlflow/") :]: item["Size"] for item in listed.get("Contents", [])}
    assert keys == {name: len(data) for name, data in expected.items()}
    kinds = report.artifacts["kinds"]
    assert kinds["run"]["objects"] == 4
    assert kinds["logged_model"]["objects"] >= 4
    assert kinds["trace"]["objects"] == 1
    assert sum(k["bytes"] for k in kinds.values()) == sum(len(d) for d in expected.values())
    _same_through_mlflow(artifact_store, db, tmp_path)
    with _sqlite(tmp_path / "dst.db") as connection:
        (uri,) = connection.execute("SELECT artifact_uri FROM runs").fetchone()
    assert (
        uri == f"s3://{bucket}/mlflow/{artifact_store['experiment_id']}/{artifact_store['run_id']}/artifacts"
    )
    checked = mlmigrate.verify(str(artifact_store["mlruns"]), db, artifacts=True)
    assert checked.ok, checked.mismatches
    assert sum(checked.artifacts["objects_checked"].values()) == len(expected)


@contextlib.contextmanager
def _sqlite(path: Path) -> Iterator[sqlite3.Connection]:
    connection = sqlite3.connect(path)
    try:
        yield connection
    finally:
        connection.close()


def _read_through(tracking_uri: str, store: dict[str, Any], out: Path) -> dict[str, Any]:
    """What the MLflow client returns for the store's artifacts, model and trace."""
    import mlflow
    import pandas as pd
    from mlflow import MlflowClient

    with mlflow_at(tracking_uri):
        downloaded = Path(
            mlflow.artifacts.download_artifacts(run_id=store["run_id"], artifact_path="", dst_path=str(out))
        )
        predictions = {}
        for uri in (f"models:/{store['registered_model']}/1", store["model_uri"]):
            model = mlflow.pyfunc.load_model(uri)
            predictions[uri] = model.predict(pd.DataFrame({"x": [1, 2]}))["x"].tolist()
        trace = MlflowClient(tracking_uri).get_trace(store["trace_id"])
        spans = [(span.name, span.inputs, span.outputs) for span in trace.data.spans]
        return {"files": _files(downloaded), "predictions": predictions, "spans": spans}


def _same_through_mlflow(store: dict[str, Any], db: str, tmp_path: Path) -> None:
    # loading a registered model from a FileStore writes registered_model_meta into the
    # source's own model folder; take that back so the shared store stays as it was
    before = set(store["mlruns"].rglob("*"))
    try:
        source = _read_through(store["mlruns"].as_uri(), store, tmp_path / "from-source")
    finally:
        for path in set(store["mlruns"].rglob("*")) - before:
            if path.is_file():
                path.unlink()
    migrated = _read_through(db, store, tmp_path / "from-destination")
    assert source["files"] and "hello.txt" in source["files"]
    assert migrated == source
    assert source["predictions"][store["model_uri"]] == [4, 5]


def _gcs_client(endpoint: str) -> Any:
    from google.auth.credentials import AnonymousCredentials
    from google.cloud import storage

    return storage.Client(
        credentials=AnonymousCredentials(), project="test", client_options={"api_endpoint": endpoint}
    )


def test_local_to_gcs(artifact_store: dict[str, Any], gcs_server: str, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("STORAGE_EMULATOR_HOST", gcs_server)
    bucket = f"g-{uuid.uuid4().hex[:8]}"
    _gcs_client(gcs_server).create_bucket(bucket)
    db = f"sqlite:///{tmp_path / 'dst.db'}"

    report = mlmigrate.copy(str(artifact_store["mlruns"]), db, artifacts_to=f"gs://{bucket}/root")

    assert report.status == "done", report.as_dict()
    blobs = {
        blob.name[len("root/") :]: blob.download_as_bytes()
        for blob in _gcs_client(gcs_server).list_blobs(bucket, prefix="root/")
    }
    assert blobs == _artifact_files(artifact_store)
    with _sqlite(tmp_path / "dst.db") as connection:
        (location,) = connection.execute("SELECT storage_location FROM model_versions").fetchone()
    assert (
        location
        == f"gs://{bucket}/root/{artifact_store['experiment_id']}/models/{artifact_store['model_id']}/artifacts"
    )
    checked = mlmigrate.verify(str(artifact_store["mlruns"]), db, artifacts=True)
    assert checked.ok, checked.mismatches


def test_local_to_azure(
    artifact_store: dict[str, Any], azure_server: Any, tmp_path: Path, monkeypatch
) -> None:
    from azure.storage.blob import BlobServiceClient

    monkeypatch.setenv("AZURE_STORAGE_CONNECTION_STRING", azure_server.connection_string)
    service = BlobServiceClient.from_connection_string(azure_server.connection_string)
    container = f"c-{uuid.uuid4().hex[:8]}"
    service.create_container(container)
    root = f"wasbs://{container}@{azure_server.account}.blob.core.windows.net/mlflow"
    db = f"sqlite:///{tmp_path / 'dst.db'}"

    report = mlmigrate.copy(str(artifact_store["mlruns"]), db, artifacts_to=root)

    assert report.status == "done", report.as_dict()
    client = service.get_container_client(container)
    blobs = {
        blob.name[len("mlflow/") :]: client.download_blob(blob.name).readall()
        for blob in client.list_blobs(name_starts_with="mlflow/")
    }
    assert blobs == _artifact_files(artifact_store)
    with _sqlite(tmp_path / "dst.db") as connection:
        (uri,) = connection.execute("SELECT artifact_uri FROM runs").fetchone()
        (experiment_location,) = connection.execute("SELECT artifact_location FROM experiments").fetchone()
    assert uri.startswith(root + "/") and uri.endswith("/artifacts")
    assert experiment_location == f"{root}/{artifact_store['experiment_id']}"
    checked = mlmigrate.verify(str(artifact_store["mlruns"]), db, artifacts=True)
    assert checked.ok, checked.mismatches


def test_local_to_local_with_postgresql(
    artifact_store: dict[str, Any], postgres_db: str, tmp_path: Path
) -> None:
    """Experiment ids are remapped on PostgreSQL; the artifact paths keep the source's."""
    root = tmp_path / "artifacts"

    report = mlmigrate.copy(str(artifact_store["mlruns"]), postgres_db, artifacts_to=str(root))

    assert report.status == "done", report.as_dict()
    assert report.remapped  # an 18-digit FileStore id does not fit PostgreSQL's column
    assert _files(root) == _artifact_files(artifact_store)
    checked = mlmigrate.verify(str(artifact_store["mlruns"]), postgres_db, artifacts=True)
    assert checked.ok, checked.mismatches
    # after verify: loading a registered model from local files writes registered_model_meta there
    _same_through_mlflow(
        artifact_store, postgres_db.replace("postgresql://", "postgresql+psycopg://"), tmp_path
    )


def _store_on_s3(root: Path, bucket: str) -> dict[str, Any]:
    """A FileStore whose experiment keeps its artifacts on S3 (logged through MLflow's S3 client)."""
    import mlflow

    mlruns = (root / "mlruns").resolve()
    with mlflow_at(mlruns.as_uri()):
        experiment_id = mlflow.create_experiment("on-s3", artifact_location=f"s3://{bucket}/src")
        with mlflow.start_run(experiment_id=experiment_id) as run:
            mlflow.log_text("on s3\n", "a.txt")
            mlflow.log_dict({"k": list(range(100))}, "nested/b.json")
    return {"mlruns": mlruns, "experiment_id": experiment_id, "run_id": run.info.run_id}


def test_s3_to_s3_server_side_in_one_bucket(s3_env: Any, tmp_path: Path) -> None:
    bucket = f"s-{uuid.uuid4().hex[:8]}"
    client = s3_env.client()
    client.create_bucket(Bucket=bucket)
    store = _store_on_s3(tmp_path, bucket)
    db = f"sqlite:///{tmp_path / 'dst.db'}"

    report = mlmigrate.copy(str(store["mlruns"]), db, artifacts_to=f"s3://{bucket}/moved")

    assert report.status == "done", report.as_dict()
    run = report.artifacts["kinds"]["run"]
    assert (run["objects"], run["copied"], run["server_side"]) == (2, 2, 2)
    prefix = f"moved/{store['experiment_id']}/{store['run_id']}/artifacts/"
    moved = client.list_objects_v2(Bucket=bucket, Prefix=prefix)["Contents"]
    assert sorted(item["Key"][len(prefix) :] for item in moved) == ["a.txt", "nested/b.json"]
    source_keys = client.list_objects_v2(Bucket=bucket, Prefix="src/")["Contents"]
    assert len(source_keys) == 2  # the source is never deleted
    body = client.get_object(Bucket=bucket, Key=prefix + "a.txt")["Body"].read()
    assert body == b"on s3\n"
    checked = mlmigrate.verify(str(store["mlruns"]), db, artifacts=True)
    assert checked.ok, checked.mismatches
