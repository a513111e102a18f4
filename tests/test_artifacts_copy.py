"""Copying artifacts with a migration: to S3 (moto), GCS (emulator), Azure (Azurite) and local
folders; the MLflow client reads the same bytes and models through the destination."""

from __future__ import annotations

import json
import os
import uuid
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


def test_filestore_to_sqlite_with_artifacts_on_s3(artifact_store: dict[str, Any], s3_env: Any, tmp_path: Path):
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
    print(json.dumps(report.artifacts, indent=1))
