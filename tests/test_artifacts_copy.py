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
    assert uri == f"s3://{bucket}/mlflow/{artifact_store['experiment_id']}/{artifact_store['run_id']}/artifacts"
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

    mlflow.set_tracking_uri(tracking_uri)
    mlflow.set_registry_uri(tracking_uri)
    try:
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
    finally:
        mlflow.set_tracking_uri(None)  # type: ignore[arg-type]
        mlflow.set_registry_uri(None)  # type: ignore[arg-type]


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
