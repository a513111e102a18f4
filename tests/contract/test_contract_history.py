"""Metric histories on every kind, read the way ``MlflowClient`` reads them: the latest of tied
points (NaN and a number at one step and timestamp) follows MLflow's own rule, points at
``step = -2**63`` arrive, a FileStore destination keeps each history's file order (and verify
notices when it does not), and ``search_runs`` (filters, ordering) and ``search_prompts`` answer
alike on both sides."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from cli_helpers import sqlite_uri
from history_store import HISTORIES, SEARCHES, make_history_store
from mlflow_compare import compare_stores

import mlmigrate

from .conftest import known_bug, require
from .kinds import StoreKindFixture, capabilities_of, tolerances


@pytest.fixture(scope="session")
def history_store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The history FileStore (``.../mlruns``), built once per session. Treat as read-only."""
    root = tmp_path_factory.mktemp("history-store")
    previous_cwd = Path.cwd()
    os.chdir(root)  # MLflow may create ./mlflow.db; keep it out of the repo
    try:
        return make_history_store(root)
    finally:
        os.chdir(previous_cwd)


def _client_differences(kind: StoreKindFixture, source: Path, destination: str, tmp_path: Path) -> list[str]:
    """How the client's reading of ``destination`` differs from the source's, history order
    included where both stores keep it (a store MLflow cannot read goes through SQLite)."""
    if kind.read_by_mlflow:
        ordered = capabilities_of(destination).ordered_histories
        return compare_stores(
            source.as_uri(),
            destination,
            tolerate=tolerances(destination),
            searches=SEARCHES,
            ordered_histories=ordered,
        )
    back = sqlite_uri(tmp_path / "back.db")
    assert mlmigrate.copy(destination, back).as_dict()["verify"]["ok"]
    return compare_stores(source.as_uri(), back, tolerate=tolerances(destination, back), searches=SEARCHES)


def test_histories_arrive_as_the_client_reads_them(
    kind: StoreKindFixture,
    history_store: Path,
    destination: str,
    tmp_path: Path,
    request: pytest.FixtureRequest,
) -> None:
    known_bug(request, kind, "prompts")
    report = mlmigrate.copy(str(history_store), destination).as_dict()

    assert report["status"] == "done" and report["verify"]["ok"], report["verify"]
    assert _client_differences(kind, history_store, destination, tmp_path) == []


def test_the_latest_of_tied_points_is_the_filestores(history_store: Path) -> None:
    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri=history_store.as_uri())
    (run,) = client.search_runs(
        [client.get_experiment_by_name("history").experiment_id], "attributes.run_name = 'ordered'"
    )
    latest = run.data.metrics
    # what the comparison above relies on: the source's own answers, which file order decides
    assert str(latest["tie_nan_first"]) == "nan" and latest["tie_number_first"] == 1.0
    assert latest["tie_negative"] == -1.0 and latest["extreme_steps"] == 7.0
    history = client.get_metric_history(run.info.run_id, "unordered")
    assert [m.step for m in history] == [step for _, _, step in HISTORIES["unordered"]]


def test_verify_catches_a_reordered_history(
    kind: StoreKindFixture, history_store: Path, destination: str
) -> None:
    require(destination, "ordered_histories")
    mlmigrate.copy(str(history_store), destination)
    (run_file,) = Path(destination).glob("*/*/metrics/unordered")
    (model_file,) = Path(destination).glob("*/models/*/metrics/model_loss")
    for metric_file in (run_file, model_file):
        lines = metric_file.read_text().splitlines(keepends=True)
        metric_file.write_text("".join(reversed(lines)))  # the same points, in another order

    result = mlmigrate.verify(str(history_store), destination).as_dict()

    assert not result["ok"]
    assert sorted((m["table"], m["problem"]) for m in result["mismatches"]) == [
        ("logged_model_metrics (file order)", "the order of points in a history differs"),
        ("metrics (file order)", "the order of points in a history differs"),
    ], result["mismatches"]
