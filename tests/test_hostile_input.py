"""Hostile pairs and files: nothing is written into the source, nothing hangs."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Any

import pytest
from cli_helpers import sqlite_uri

import mlmigrate
from mlmigrate.exceptions import UsageError


def _tree_digest(root: Path) -> str:
    digest = hashlib.sha256()
    for path in sorted(root.rglob("*")):
        digest.update(str(path.relative_to(root)).encode())
        if path.is_file():
            digest.update(path.read_bytes())
    return digest.hexdigest()


@pytest.mark.parametrize(
    "inside",
    [
        lambda mlruns: str(mlruns / "999"),
        lambda mlruns: sqlite_uri(mlruns / "mlflow.db"),
        lambda mlruns: f"backup://{mlruns / 'backup'}",
    ],
    ids=["folder-in-source", "sqlite-in-source", "backup-in-source"],
)
def test_a_destination_inside_the_source_is_refused_and_the_source_untouched(
    minimal_store: Path, inside: object
) -> None:
    mlruns = minimal_store  # the mlruns folder itself
    before = _tree_digest(mlruns)
    destination = inside(mlruns)  # type: ignore[operator]
    with pytest.raises(UsageError, match="inside the source"):
        mlmigrate.copy(str(mlruns), destination)
    assert _tree_digest(mlruns) == before


def test_a_source_inside_the_destination_is_refused(minimal_store: Path, tmp_path: Path) -> None:
    mlruns = minimal_store
    with pytest.raises(UsageError, match="inside the destination"):
        mlmigrate.copy(str(mlruns), f"backup://{mlruns.parent}")
    assert os.path.isdir(mlruns)


def _first_run(mlruns: Path) -> Path:
    for experiment in sorted(mlruns.iterdir()):
        if experiment.name.isdigit():
            for run in sorted(experiment.iterdir()):
                if (run / "params").is_dir():
                    return run
    raise AssertionError("no run in the store")


def test_a_fifo_in_place_of_a_param_file_is_reported_not_waited_on(
    minimal_store: Path, tmp_path: Path
) -> None:
    run = _first_run(minimal_store)
    os.mkfifo(run / "params" / "a-fifo")
    report = mlmigrate.copy(str(minimal_store), sqlite_uri(tmp_path / "dst.db"), on_error="skip")
    rejected = report.as_dict()["rejected_runs"]
    assert [entry["run"] for entry in rejected] == [run.name]
    assert "a-fifo" in rejected[0]["error"] and "not a regular file" in rejected[0]["error"]


def test_a_symlink_loop_in_tags_is_reported_in_one_short_line(minimal_store: Path) -> None:
    run = _first_run(minimal_store)
    (run / "tags" / "loop").symlink_to(run / "tags")
    planned = mlmigrate.plan(str(minimal_store))
    errors = [p["error"] for p in planned["problems"]]
    assert any("loop" in error for error in errors), errors
    assert all(len(error) < 600 for error in errors)


def test_a_yaml_alias_bomb_is_refused_at_once(minimal_store: Path) -> None:
    import time

    experiment = next(p for p in sorted(minimal_store.iterdir()) if p.name.isdigit() and p.name != "0")
    lines = ["a: &a [x, x, x, x, x, x, x, x, x]"]
    for level in range(8):
        previous, name = chr(97 + level), chr(98 + level)
        lines.append(f"{name}: &{name} [" + ", ".join([f"*{previous}"] * 9) + "]")
    bomb = "\n".join([*lines, "name: *i"])
    (experiment / "meta.yaml").write_text(bomb)
    started = time.monotonic()
    planned = mlmigrate.plan(str(minimal_store))
    assert time.monotonic() - started < 30
    assert any("aliases" in p["error"] for p in planned["problems"]), planned["problems"]


def _twin_experiment(mlruns: Path) -> tuple[str, str, str]:
    """Copy a source experiment to a new id under the same name; (first id, twin id, name)."""
    import shutil

    import yaml

    first = next(p for p in sorted(mlruns.iterdir()) if p.name.isdigit() and p.name != "0")
    twin = mlruns / "777"
    shutil.copytree(first / "tags", twin / "tags") if (first / "tags").is_dir() else twin.mkdir()
    meta = yaml.safe_load((first / "meta.yaml").read_text())
    meta["experiment_id"] = "777"
    meta["artifact_location"] = (twin).as_uri()
    (twin / "meta.yaml").write_text(yaml.safe_dump(meta))
    return first.name, "777", str(meta["name"])


def test_two_source_experiments_of_one_name_are_found_by_plan_and_check_before_copy(
    minimal_store: Path, tmp_path: Path
) -> None:
    from mlmigrate.engine.readiness import check
    from mlmigrate.exceptions import ConflictError

    first, twin, name = _twin_experiment(minimal_store)
    destination = sqlite_uri(tmp_path / "dst.db")
    planned = mlmigrate.plan(str(minimal_store))
    assert any(first in c and twin in c and name in c for c in planned["source_clashes"]), planned
    ready = check(str(minimal_store), destination)
    assert not ready.go and any(
        c["check"] == "clashes inside the source" and not c["ok"] for c in ready.checks
    )
    with pytest.raises(ConflictError, match="the source itself"):
        mlmigrate.copy(str(minimal_store), destination)
    assert not (tmp_path / "dst.db").exists()  # refused before the schema was made
    renamed = mlmigrate.copy(str(minimal_store), destination, on_conflict="rename").as_dict()
    assert renamed["status"] == "done" and renamed["verify"]["ok"]
    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri=destination)
    names = {e.name for e in client.search_experiments(view_type=3)}
    assert {name, f"{name} (2)"} <= names


def test_a_run_in_two_source_experiments_is_named_before_anything_is_written(
    minimal_store: Path, tmp_path: Path
) -> None:
    import shutil

    from mlmigrate.exceptions import ConflictError

    run = _first_run(minimal_store)
    other = next(p for p in sorted(minimal_store.iterdir()) if p.name.isdigit() and p != run.parent)
    shutil.copytree(run, other / run.name)
    planned = mlmigrate.plan(str(minimal_store))
    assert any(run.name in c for c in planned["source_clashes"]), planned
    with pytest.raises(ConflictError, match=run.name):
        mlmigrate.copy(str(minimal_store), sqlite_uri(tmp_path / "dst.db"), on_conflict="skip")
    assert not (tmp_path / "dst.db").exists()


def test_out_of_range_numbers_and_odd_folder_names_are_source_problems_naming_the_file(
    minimal_store: Path, tmp_path: Path
) -> None:
    import yaml

    run = _first_run(minimal_store)
    metric = next((run / "metrics").iterdir())
    metric.write_text(metric.read_text() + "1700000000000 1.0 99999999999999999999\n")
    (minimal_store / "²").mkdir()
    (minimal_store / "²" / "meta.yaml").write_text("name: odd\nexperiment_id: '²'\nlifecycle_stage: active\n")
    planned = mlmigrate.plan(str(minimal_store))
    errors = " | ".join(p["error"] for p in planned["problems"])
    assert f"{metric}:" in errors and "out of range" in errors, errors
    assert "'²' is not an experiment id" in errors, errors
    report = mlmigrate.copy(str(minimal_store), sqlite_uri(tmp_path / "a.db"), on_error="skip").as_dict()
    assert [entry["unit"] for entry in report["skipped_units"]] == ["experiment:²"], report
    assert [entry["run"] for entry in report["rejected_runs"]] == [run.name], report

    metric.write_text(metric.read_text().splitlines()[0] + "\n")
    meta = yaml.safe_load((run / "meta.yaml").read_text())
    meta["start_time"] = 2**64
    (run / "meta.yaml").write_text(yaml.safe_dump(meta))
    planned = mlmigrate.plan(str(minimal_store))
    errors = " | ".join(p["error"] for p in planned["problems"])
    assert f"{run / 'meta.yaml'}: field 'start_time' is out of range" in errors, errors


def test_artifacts_to_a_missing_bucket_is_refused_before_anything_is_written(
    minimal_store: Path, tmp_path: Path, s3_server: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from mlmigrate.exceptions import StoreError

    for name, value in s3_server.env().items():
        monkeypatch.setenv(name, value)
    with pytest.raises(StoreError, match="no-such-bucket"):
        mlmigrate.copy(
            str(minimal_store),
            sqlite_uri(tmp_path / "dst.db"),
            artifacts_to="s3://no-such-bucket/mlflow",
            s3_endpoint=s3_server.endpoint,
        )
    assert not (tmp_path / "dst.db").exists()  # no schema, no rewritten URIs


def test_an_experiment_both_live_and_trashed_is_reported_not_dropped(
    minimal_store: Path, tmp_path: Path
) -> None:
    import shutil

    live = next(p for p in sorted(minimal_store.iterdir()) if p.name.isdigit() and p.name != "0")
    shutil.copytree(live, minimal_store / ".trash" / live.name)
    planned = mlmigrate.plan(str(minimal_store))
    assert any("both live" in p["error"] and live.name in p["error"] for p in planned["problems"])
    report = mlmigrate.copy(str(minimal_store), sqlite_uri(tmp_path / "dst.db"), on_error="skip").as_dict()
    assert [e for e in report["skipped_units"] if "both live" in e["error"]]
    assert report["verify"]["ok"]


def test_a_source_at_an_unknown_newer_schema_revision_is_refused(minimal_store: Path, tmp_path: Path) -> None:
    import sqlite3

    from mlmigrate.exceptions import SchemaError

    newer = tmp_path / "newer.db"
    mlmigrate.copy(str(minimal_store), sqlite_uri(newer))
    with sqlite3.connect(newer) as connection:
        connection.execute("UPDATE alembic_version SET version_num = 'f00dfeedbeef'")
        connection.execute("ALTER TABLE runs ADD COLUMN future_column TEXT")
        connection.execute("CREATE TABLE future_table (id INTEGER PRIMARY KEY)")
    for attempt in (
        lambda: mlmigrate.copy(sqlite_uri(newer), sqlite_uri(tmp_path / "dst.db")),
        lambda: mlmigrate.plan(sqlite_uri(newer)),
        lambda: mlmigrate.verify(sqlite_uri(newer), sqlite_uri(tmp_path / "dst.db")),
    ):
        with pytest.raises(SchemaError, match="f00dfeedbeef is unknown to this MLflow .newest known: "):
            attempt()
    assert not (tmp_path / "dst.db").exists()


def test_a_value_over_the_destination_column_is_refused_while_reading_naming_run_and_key(
    minimal_store: Path, postgres_db: str
) -> None:
    from mlmigrate.exceptions import SourceFormatError

    run = _first_run(minimal_store)
    (run / "tags" / "huge").write_text("x" * 9000)
    with pytest.raises(SourceFormatError, match=rf"tags.value of run_uuid '{run.name}', key 'huge': 9,000"):
        mlmigrate.copy(str(minimal_store), postgres_db)
    report = mlmigrate.copy(str(minimal_store), postgres_db, on_error="skip").as_dict()
    assert [e["run"] for e in report["rejected_runs"] if "huge" in e["error"]] == [run.name], report
