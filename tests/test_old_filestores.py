"""FileStores written by older MLflow releases (2.9.2, 1.28), built at test time in venvs of
their own from PyPI, copied with today's mlmigrate and compared through today's client.

MLflow 1.x deletes an experiment by moving its folder to ``.trash`` and leaves
``lifecycle_stage: active`` in its ``meta.yaml``: whatever sits in ``.trash`` is deleted.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import yaml
from cli_helpers import sqlite_uri
from mlflow_compare import compare_stores
from old_mlflow import VERSIONS, OldMlflowUnavailable, venv_python, write_store

import mlmigrate


@pytest.fixture(scope="session", params=VERSIONS, ids=[f"mlflow-{v}" for v in VERSIONS])
def old_store(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> tuple[str, Path]:
    """``(version, mlruns)``: a FileStore written by that MLflow, once per session (its venv is
    kept in pytest's cache across sessions). Treat as read-only."""
    version = request.param
    cache = getattr(request.config, "cache", None)  # none under -p no:cacheprovider: this session
    folder = cache.mkdir("old-mlflow") if cache is not None else tmp_path_factory.mktemp("old-mlflow")
    try:
        python = venv_python(folder, version)
    except OldMlflowUnavailable as exc:
        if os.environ.get("CI") == "true":
            pytest.fail(f"MLflow {version} could not be installed: {exc}")
        pytest.skip(f"MLflow {version} could not be installed: {exc}")
    return version, write_store(python, tmp_path_factory.mktemp(f"mlflow-{version}"))


def _deleted_in_trash(version: str) -> list[str]:
    """What today's client sees differently after the copy: the experiment 1.x left "active" in
    ``.trash`` is deleted in the destination (today's client lists the source's trashed folder
    with the lifecycle stage its meta.yaml says, and leaves it out of active searches)."""
    if not version.startswith("1."):
        return []
    return ["experiment old-deleted lifecycle_stage differs: source 'active' != destination 'deleted'"]


def test_the_old_store_is_as_that_release_wrote_it(old_store: tuple[str, Path]) -> None:
    version, mlruns = old_store
    (trashed,) = (mlruns / ".trash").glob("*/meta.yaml")
    stage = yaml.safe_load(trashed.read_text())["lifecycle_stage"]

    assert stage == ("active" if version.startswith("1.") else "deleted")  # the 1.x trash
    assert (mlruns / "models").is_dir() is not version.startswith("1.")  # 1.x: no file registry


@pytest.mark.parametrize("kind", ["sqlite", "filestore"])
def test_an_old_store_arrives_as_todays_client_reads_it(
    old_store: tuple[str, Path], kind: str, tmp_path: Path
) -> None:
    from mlflow import MlflowClient

    version, mlruns = old_store
    destination = sqlite_uri(tmp_path / "dst.db") if kind == "sqlite" else str(tmp_path / "bundle")

    report = mlmigrate.copy(str(mlruns), destination).as_dict()

    assert report["status"] == "done" and report["verify"]["ok"], report
    ordered = kind == "filestore"
    tolerated = {"model-version-model-id", "duplicate-metric-points"} if kind == "sqlite" else set()
    if kind == "sqlite":
        tolerated |= {"negative-zero", "nan-as-null"}
    differences = compare_stores(
        mlruns.as_uri(),
        destination,
        tolerate=tolerated,
        searches=(("params.lr = '0.1'", []), ("", ["metrics.loss DESC"]), ("metrics.ties > 0", [])),
        ordered_histories=ordered,
    )
    assert differences == _deleted_in_trash(version)
    client_uri = destination if kind == "sqlite" else Path(destination).resolve().as_uri()
    active = MlflowClient(tracking_uri=client_uri).search_experiments()
    assert "old-deleted" not in {experiment.name for experiment in active}
    assert mlmigrate.verify(str(mlruns), destination).ok
