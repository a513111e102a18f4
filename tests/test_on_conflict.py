"""``--on-conflict fail|skip|merge|rename`` into non-empty SQLite and PostgreSQL destinations."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from cli_helpers import invoke, json_stdout, row_counts, show, sqlite_uri
from edge_store import make_minimal_store
from kill_helpers import copy_killed_after_first_commit
from mlflow_compare import normalize_uri

import mlmigrate

TABLES = ("experiments", "runs", "metrics", "params", "tags", "registered_models", "model_versions")


@pytest.fixture(params=["sqlite", "postgresql"])
def loaded(request: pytest.FixtureRequest, minimal_store: Path, tmp_path: Path) -> tuple[str, Path]:
    """A destination that already holds the minimal store, and a second store with the same
    experiment and model names but other runs: (destination URI, second store)."""
    destination = (
        sqlite_uri(tmp_path / "dst.db")
        if request.param == "sqlite"
        else request.getfixturevalue("postgres_db")
    )
    assert mlmigrate.copy(str(minimal_store), destination).status == "done"
    return destination, make_minimal_store(tmp_path / "other")


def _client(uri: str) -> Any:
    from mlflow import MlflowClient

    return MlflowClient(tracking_uri=normalize_uri(uri), registry_uri=normalize_uri(uri))


def _runs_of(client: Any, name: str) -> set[str]:
    experiment = client.get_experiment_by_name(name)
    return {run.info.run_id for run in client.search_runs([experiment.experiment_id])}


def test_fail_lists_every_clash_and_writes_nothing(loaded: tuple[str, Path]) -> None:
    destination, other = loaded
    before = row_counts(destination, TABLES)

    planned = invoke("plan", str(other), destination, "--json")
    result = invoke("copy", str(other), destination)

    assert planned.returncode == 0, show(planned)
    clashes = json_stdout(planned)["clashes"]
    assert any("experiment 'minimal' already exists" in clash for clash in clashes)
    assert any("registered model 'minimal-model'" in clash for clash in clashes)
    assert result.returncode == 1, show(result)
    assert "experiment 'minimal'" in result.stderr and "--on-conflict" in result.stderr
    assert row_counts(destination, TABLES) == before


def test_skip_reimports_the_same_bundle_without_duplicates(
    loaded: tuple[str, Path], minimal_store: Path
) -> None:
    destination, _ = loaded
    before = row_counts(destination, TABLES)

    result = invoke("copy", str(minimal_store), destination, "--on-conflict", "skip", "--json")

    assert result.returncode == 0, show(result)
    report = json_stdout(result)
    assert report["status"] == "done"
    # only the empty Default experiment is written again (an empty destination experiment is
    # replaced by the source's, whatever the policy)
    assert {name for name, stats in report["tables"].items() if stats["written"]} <= {"experiments"}
    assert {c["action"] for c in report["conflicts"]} == {"skip"}
    assert any(c["object"] == "experiment 'minimal'" for c in report["conflicts"])
    assert sum(c["object"].startswith("run ") for c in report["conflicts"]) == 2
    assert row_counts(destination, TABLES) == before
    assert invoke("verify", str(minimal_store), destination).returncode == 0


def test_merge_adds_runs_and_renumbers_versions(loaded: tuple[str, Path], minimal_store: Path) -> None:
    destination, other = loaded
    client = _client(destination)
    first_runs = _runs_of(client, "minimal")
    planned = json_stdout(invoke("plan", str(other), destination, "--on-conflict", "merge", "--json"))

    result = invoke("copy", str(other), destination, "--on-conflict", "merge", "--json")

    assert result.returncode == 0, show(result)
    report = json_stdout(result)
    assert report["verify"]["ok"], report["verify"]
    assert report["renumbered_versions"] == {"minimal-model": {"1": "2"}}
    assert {r["action"] for r in planned["resolutions"]} == {"merge"}
    # through MLflow: both stores' runs in the one experiment, the new version after the old one
    other_runs = _runs_of(_client(other.as_uri()), "minimal")
    assert _runs_of(client, "minimal") == first_runs | other_runs and len(first_runs | other_runs) == 4
    versions = {str(v.version): v.run_id for v in client.search_model_versions("name = 'minimal-model'")}
    assert set(versions) == {"1", "2"}
    assert versions["2"] in other_runs and versions["1"] in first_runs
    assert len(client.search_experiments()) == 2  # Default and minimal: nothing doubled
    # the standalone verify knows from the journal which rows the merged units brought
    verified = invoke("verify", str(other), destination)
    assert verified.returncode == 0, show(verified)


def test_merge_killed_after_a_commit_resumes_without_touching_other_runs(loaded: tuple[str, Path]) -> None:
    """The first merged unit commits, the process dies before journaling it; the resume writes
    that unit again, clearing only the rows it brought, not the destination's own runs."""
    destination, other = loaded
    client = _client(destination)
    first_runs = _runs_of(client, "minimal")
    before = row_counts(destination, TABLES)

    # one writer: the first merged unit is the experiment (units run in plan order)
    copy_killed_after_first_commit(
        str(other), destination, "--on-conflict", "merge", "--workers", "1", merged=True
    )
    assert row_counts(destination, TABLES)["runs"] == before["runs"] + 2  # committed, not journaled
    resumed = invoke("copy", str(other), destination, "--on-conflict", "merge", "--json")

    assert resumed.returncode == 0, show(resumed)
    assert json_stdout(resumed)["verify"]["ok"]
    after = row_counts(destination, TABLES)
    assert after["runs"] == before["runs"] + 2 and after["model_versions"] == before["model_versions"] + 1
    assert after["metrics"] == 2 * before["metrics"] and after["experiments"] == before["experiments"]
    assert first_runs < _runs_of(client, "minimal")


def test_rename_copies_under_a_suffixed_name(loaded: tuple[str, Path]) -> None:
    destination, other = loaded
    client = _client(destination)
    first_runs = _runs_of(client, "minimal")

    result = invoke("copy", str(other), destination, "--on-conflict", "rename", "--json")

    assert result.returncode == 0, show(result)
    assert json_stdout(result)["verify"]["ok"]
    assert _runs_of(client, "minimal") == first_runs
    assert len(_runs_of(client, "minimal (2)")) == 2
    assert [str(v.version) for v in client.search_model_versions("name = 'minimal-model (2)'")] == ["1"]
    # the id sequence moved past what was written: MLflow can still create experiments
    new_id = client.create_experiment("after the merge")
    assert client.get_experiment(new_id).name == "after the merge"
