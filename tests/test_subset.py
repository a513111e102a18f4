"""A subset of the source (``--experiment NAME|ID``, ``--model NAME``), kept by re-runs; and
``check`` telling an unfinished migration of the pair apart from a clash."""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

from cli_helpers import count, invoke, json_stdout, query, show, sqlite_uri
from edge_store import _client, mlflow_pointed_at

from mlmigrate.engine.journal import PENDING, Journal

SUBSET_NOTE = "tables outside experiments and models were not copied"


def _experiment_names(uri: str) -> set[str]:
    return {row[0] for row in query(uri, "SELECT name FROM experiments")}


def test_copy_of_one_experiment_by_name_leaves_the_rest_and_a_rerun_keeps_the_subset(
    minimal_store: Path, tmp_path: Path
) -> None:
    destination = sqlite_uri(tmp_path / "dst.db")

    result = invoke("copy", str(minimal_store), destination, "--experiment", "minimal", "--json")

    assert result.returncode == 0, show(result)
    report = json_stdout(result)
    assert any(SUBSET_NOTE in note for note in report["notes"]), report["notes"]
    assert report["verify"]["ok"] is True
    assert "minimal" in _experiment_names(destination)
    assert count(destination, "runs") == 2
    assert count(destination, "registered_models") == 0 and count(destination, "model_versions") == 0
    verified = invoke("verify", str(minimal_store), destination)  # the subset only
    assert verified.returncode == 0, show(verified)
    # the source gains an experiment outside the subset: a re-run without options leaves it out
    with mlflow_pointed_at(minimal_store.as_uri()):
        _client(minimal_store.as_uri()).create_experiment("added-later")

    again = invoke("copy", str(minimal_store), destination, "--json")

    assert again.returncode == 0, show(again)
    assert json_stdout(again)["status"] == "up-to-date", show(again)
    assert "added-later" not in _experiment_names(destination)


def test_copy_of_one_model_by_name_and_an_experiment_by_id_on_postgresql(
    minimal_store: Path, postgres_db: str
) -> None:
    import mlmigrate

    with mlflow_pointed_at(minimal_store.as_uri()):
        default_id = _client(minimal_store.as_uri()).get_experiment_by_name("Default").experiment_id

    report = mlmigrate.copy(
        str(minimal_store), postgres_db, experiments=[default_id], models=["minimal-model"]
    )

    assert report.status == "done", report.as_dict()
    assert report.verify is not None and report.verify["ok"] is True
    assert any(SUBSET_NOTE in note for note in report.notes)
    assert query(postgres_db, "SELECT name FROM registered_models") == [("minimal-model",)]
    assert count(postgres_db, "model_versions") == 1
    assert "minimal" not in _experiment_names(postgres_db)
    assert count(postgres_db, "runs") == 0


def test_a_name_that_matches_nothing_is_a_usage_error_naming_it_and_the_choices(
    minimal_store: Path, tmp_path: Path
) -> None:
    database = tmp_path / "dst.db"

    result = invoke(
        "copy", str(minimal_store), sqlite_uri(database), "--experiment", "minimal", "--model", "nope"
    )

    assert result.returncode == 2, show(result)
    assert "'nope'" in result.stderr and "minimal-model" in result.stderr, show(result)
    if database.exists():  # nothing was written: not even MLflow's schema
        with sqlite3.connect(database) as connection:
            assert connection.execute("SELECT count(*) FROM sqlite_master").fetchone()[0] == 0
    plan = invoke("plan", str(minimal_store), "--experiment", "minimal", "--json")
    assert plan.returncode == 0, show(plan)
    assert json_stdout(plan)["units"] == {"experiments": 1, "registered_models": 0}


def test_check_reports_an_unfinished_migration_as_resumable_and_copy_resumes_it(
    minimal_store: Path, tmp_path: Path
) -> None:
    destination = sqlite_uri(tmp_path / "dst.db")
    assert invoke("copy", str(minimal_store), destination, "-q").returncode == 0
    # a crash after the destination committed the model, before the journal recorded it
    journal = Journal(Path(os.environ["MLMIGRATE_STATE_DIR"]))
    latest = journal.latest(str(minimal_store), destination)
    assert latest is not None
    journal.mark(latest["migration_id"], "registered_model:minimal-model", PENDING)
    journal.set_state(latest["migration_id"], "interrupted")
    journal.close()

    result = invoke("check", str(minimal_store), destination, "--json")

    assert result.returncode == 0, show(result)
    data = json_stdout(result)
    checks = {item["check"]: item for item in data["checks"]}
    assert data["go"] is True
    assert checks["clashes"]["ok"] is True
    assert latest["migration_id"] in str(checks["journal"]["detail"])
    assert "1 of" in str(checks["journal"]["detail"]) and data["estimate"]["units_left"] == 1
    resumed = invoke("copy", str(minimal_store), destination, "--json")
    assert resumed.returncode == 0, show(resumed)
    assert json_stdout(resumed)["migration_id"] == latest["migration_id"]
    assert count(destination, "model_versions") == 1


def test_a_resume_keeps_the_subset_and_another_subset_is_refused(minimal_store: Path, tmp_path: Path) -> None:
    destination = sqlite_uri(tmp_path / "dst.db")
    assert invoke("copy", str(minimal_store), destination, "--experiment", "minimal", "-q").returncode == 0
    journal = Journal(Path(os.environ["MLMIGRATE_STATE_DIR"]))
    latest = journal.latest(str(minimal_store), destination)
    assert latest is not None
    (unit,) = [r.unit_id for r in journal.units(latest["migration_id"])]
    journal.mark(latest["migration_id"], unit, PENDING)
    journal.set_state(latest["migration_id"], "interrupted")
    journal.close()

    resumed = invoke("copy", str(minimal_store), destination, "--json")

    assert resumed.returncode == 0, show(resumed)
    report = json_stdout(resumed)
    assert report["migration_id"] == latest["migration_id"] and report["units"]["total"] == 1
    assert report["verify"]["ok"] is True and any(SUBSET_NOTE in note for note in report["notes"])
    assert count(destination, "registered_models") == 0 and count(destination, "runs") == 2
    other = invoke("copy", str(minimal_store), destination, "--model", "minimal-model")
    assert other.returncode == 2, show(other)
    assert "--experiment minimal" in other.stderr and "--model minimal-model" in other.stderr, show(other)
    assert count(destination, "registered_models") == 0


def test_check_of_a_subset_sees_only_its_clashes(
    minimal_store: Path, other_minimal_store: Path, tmp_path: Path
) -> None:
    """The destination holds an experiment named as one of the other source's: a copy of that
    source's model alone clashes with nothing, and check says so."""
    destination = sqlite_uri(tmp_path / "dst.db")
    assert invoke("copy", str(minimal_store), destination, "--experiment", "minimal", "-q").returncode == 0
    whole = invoke("check", str(other_minimal_store), destination, "--json")
    assert whole.returncode == 1 and "clashes" in whole.stderr, show(whole)

    result = invoke("check", str(other_minimal_store), destination, "--model", "minimal-model", "--json")

    assert result.returncode == 0, show(result)
    copied = invoke("copy", str(other_minimal_store), destination, "--model", "minimal-model", "-q")
    assert copied.returncode == 0, show(copied)
    assert count(destination, "model_versions") == 1
    unknown = invoke("check", str(other_minimal_store), destination, "--model", "nope", "--json")
    assert unknown.returncode == 1 and "'nope'" in unknown.stdout, show(unknown)


def test_a_selection_is_the_same_in_any_order_and_with_repeats() -> None:
    from mlmigrate.engine.subset import Selection

    assert Selection.make(["b", "a", "b"], ["m"]) == Selection.make(["a", "b"], ["m", "m"])
    assert Selection.from_recorded(Selection.make(["b", "a"]).recorded()) == Selection.make(["a", "b"])
    assert not Selection.make() and Selection.from_recorded(None) == Selection()
