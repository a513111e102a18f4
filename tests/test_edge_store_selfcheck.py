"""The test infrastructure checks itself: the edge store builds, the comparator sees
equality and differences, and the PostgreSQL fixture serves MLflow."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from mlflow_compare import compare_stores, normalize_uri


def _run_dir(mlruns: Path, run_name: str) -> Path:
    for meta in mlruns.glob("*/*/meta.yaml"):
        if f"run_name: {run_name}\n" in meta.read_text(encoding="utf-8"):
            return meta.parent
    raise AssertionError(f"no run named {run_name!r} under {mlruns}")


def test_edge_store_equals_itself(edge_store: Path) -> None:
    assert compare_stores(edge_store.as_uri(), edge_store.as_uri()) == []


def test_minimal_store_equals_itself(minimal_store: Path) -> None:
    assert compare_stores(str(minimal_store), minimal_store.as_uri()) == []


def test_comparator_reads_sqlite_after_mlflow_migration(minimal_store: Path, tmp_path: Path) -> None:
    """MLflow's own FileStore -> SQLite migration of a simple store compares equal."""
    from mlflow.store.fs2db import migrate

    target = f"sqlite:///{tmp_path / 'migrated.db'}"
    migrate(minimal_store, target, progress=False)

    assert compare_stores(minimal_store.as_uri(), target) == []


def test_comparator_reports_changed_metric_point(edge_store: Path, tmp_path: Path) -> None:
    copy = tmp_path / "mlruns"
    shutil.copytree(edge_store, copy)
    metric_file = _run_dir(copy, "child-0") / "metrics" / "long_series"
    lines = metric_file.read_text().splitlines(keepends=True)
    timestamp, _, step = lines[500].split()
    lines[500] = f"{timestamp} 123.5 {step}\n"
    metric_file.write_text("".join(lines))

    differences = compare_stores(edge_store.as_uri(), copy.as_uri())

    assert any("metric 'long_series' history differs" in d for d in differences), differences
    assert any("123.5" in d for d in differences), differences


def test_comparator_reports_changed_param(edge_store: Path, tmp_path: Path) -> None:
    copy = tmp_path / "mlruns"
    shutil.copytree(edge_store, copy)
    run_dir = _run_dir(copy, "parent run")
    (run_dir / "params" / "long").write_text("x" * 5000)

    differences = compare_stores(edge_store.as_uri(), copy.as_uri())

    assert len(differences) == 1, differences
    assert differences[0].startswith(f"run {run_dir.name} params 'long' differs: "), differences


def test_comparator_reports_dataset_metric_step(edge_store: Path, tmp_path: Path) -> None:
    """5-field metric lines: the comparator reads the real step, which stock MLflow drops."""
    copy = tmp_path / "mlruns"
    shutil.copytree(edge_store, copy)
    metric_file = _run_dir(copy, "parent run") / "metrics" / "eval_loss"
    metric_file.write_text(metric_file.read_text().replace(" 4 eval-", " 40 eval-"))

    differences = compare_stores(edge_store.as_uri(), copy.as_uri())

    assert any("metric 'eval_loss' history differs" in d for d in differences), differences


def test_comparator_reports_missing_run(edge_store: Path, tmp_path: Path) -> None:
    copy = tmp_path / "mlruns"
    shutil.copytree(edge_store, copy)
    run_dir = _run_dir(copy, "killed run")
    shutil.rmtree(run_dir)

    differences = compare_stores(edge_store.as_uri(), copy.as_uri())

    assert f"run {run_dir.name} missing in destination" in differences, differences


def test_comparator_rejects_unknown_tolerance(edge_store: Path) -> None:
    with pytest.raises(ValueError, match="unknown tolerance"):
        compare_stores(edge_store.as_uri(), edge_store.as_uri(), tolerate={"everything"})


def test_normalize_uri_uses_psycopg3() -> None:
    assert normalize_uri("postgresql://u@h:1/db").startswith("postgresql")
    assert normalize_uri("/x/mlruns") == "file:///x/mlruns"


def test_postgres_fixture_serves_mlflow(postgres_db: str) -> None:
    from mlflow import MlflowClient

    uri = normalize_uri(postgres_db)
    client = MlflowClient(tracking_uri=uri, registry_uri=uri)
    experiment_id = client.create_experiment("pg-check", tags={"k": "v"})
    run = client.create_run(experiment_id)
    client.log_metric(run.info.run_id, "m", 1.5, timestamp=1, step=2)

    assert client.get_experiment_by_name("pg-check").tags == {"k": "v"}
    assert [(m.step, m.value) for m in client.get_metric_history(run.info.run_id, "m")] == [(2, 1.5)]
    assert postgres_db.startswith("postgresql://postgres@127.0.0.1:")
    assert compare_stores(postgres_db, postgres_db) == []
