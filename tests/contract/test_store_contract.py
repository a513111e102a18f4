"""One contract, checked the same way on every kind of store (the list is ``kinds.KINDS``).

Each test copies a small FileStore (built once, copied per test) into an empty destination
of the kind and checks one promise: MLflow reads the same data, a re-run adds nothing,
verify catches a changed value, ``--on-conflict`` does what it says, rollback removes
exactly what a migration wrote, a SIGKILL resumes, bad input writes nothing. A kind whose
``Capabilities`` lack what a test needs shows as a skip naming the capability.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from cli_helpers import run_cli, show, sqlite_uri
from kill_helpers import copy_killed_after_first_commit
from mlflow_compare import compare_stores

import mlmigrate
from mlmigrate.engine.rollback import rollback
from mlmigrate.exceptions import SourceFormatError, UsageError
from mlmigrate.stores.kinds import KINDS as REGISTRY

from .kinds import KINDS, StoreKindFixture, capabilities_of, rows
from .store_types import DESTINATION_CLASSES


@pytest.fixture(scope="session")
def minimal_source(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The small FileStore of every contract test, made with MlflowClient once."""
    from edge_store import make_minimal_store

    return make_minimal_store(tmp_path_factory.mktemp("contract-source"))


@pytest.fixture
def source(minimal_source: Path, tmp_path: Path) -> Path:
    """A private copy of the small FileStore."""
    copy = tmp_path / "source" / "mlruns"
    shutil.copytree(minimal_source, copy)
    return copy


@pytest.fixture(params=KINDS, ids=[kind.name for kind in KINDS])
def kind(request: pytest.FixtureRequest) -> StoreKindFixture:
    return request.param


@pytest.fixture
def destination(kind: StoreKindFixture, request: pytest.FixtureRequest, tmp_path: Path) -> str:
    return kind.make(request, tmp_path)


def _compared(kind: StoreKindFixture, source: Path, destination: str, tmp_path: Path) -> list[str]:
    tolerated = kind.tolerances(capabilities_of(destination))
    if kind.read_by_mlflow:
        return compare_stores(str(source), destination, tolerate=tolerated)
    back = sqlite_uri(tmp_path / "back.db")  # MLflow cannot read it: read what comes back out
    assert mlmigrate.copy(destination, back).as_dict()["verify"]["ok"]
    return compare_stores(str(source), back, tolerate=tolerated | {"negative-zero", "nan-as-null"})


def test_every_registered_store_class_is_checked_by_the_type_checker() -> None:
    import importlib

    for record in REGISTRY:
        module, _, name = record.target.partition(":")
        assert getattr(importlib.import_module(module), name) in DESTINATION_CLASSES, record.name


def test_round_trip_reads_the_same_through_mlflow(
    kind: StoreKindFixture, source: Path, destination: str, tmp_path: Path
) -> None:
    report = mlmigrate.copy(str(source), destination).as_dict()
    assert report["status"] == "done" and report["verify"]["ok"], report
    assert _compared(kind, source, destination, tmp_path) == []


def test_a_rerun_adds_nothing(source: Path, destination: str) -> None:
    mlmigrate.copy(str(source), destination)
    before = {table: rows(destination, table) for table in ("experiments", "runs", "params", "metrics")}
    again = mlmigrate.copy(str(source), destination).as_dict()
    assert again["status"] == "up-to-date"
    assert {table: rows(destination, table) for table in before} == before


def test_verify_catches_a_changed_value(kind: StoreKindFixture, source: Path, destination: str) -> None:
    mlmigrate.copy(str(source), destination)
    assert mlmigrate.verify(str(source), destination).ok
    kind.tamper(destination)
    result = mlmigrate.verify(str(source), destination)
    assert not result.ok
    assert any(m["table"] == "params" for m in result.as_dict()["mismatches"]), result.as_dict()
    checked = run_cli("verify", str(source), destination)
    assert checked.returncode == 3, show(checked)


def test_on_conflict_skip_and_rename_import_again(source: Path, destination: str, tmp_path: Path) -> None:
    mlmigrate.copy(str(source), destination)
    if not capabilities_of(destination).writable:
        pytest.skip(f"{capabilities_of(destination).kind}: writable = no once finished")
    runs, experiments = rows(destination, "runs"), rows(destination, "experiments")
    skipped = mlmigrate.copy(str(source), destination, on_conflict="skip").as_dict()
    assert skipped["status"] == "done" and skipped["verify"]["ok"], skipped
    assert (rows(destination, "runs"), rows(destination, "experiments")) == (runs, experiments)
    other = tmp_path / "other" / "mlruns"  # another source holding the same objects
    shutil.copytree(source, other)
    renamed = mlmigrate.copy(str(other), destination, on_conflict="rename").as_dict()
    assert renamed["verify"]["ok"], renamed
    assert rows(destination, "runs") == runs  # their ids are taken: left out, and reported
    assert rows(destination, "experiments") > experiments  # copied again as "name (2)"


def test_on_conflict_merge_or_a_refusal_naming_the_store(source: Path, destination: str) -> None:
    mlmigrate.copy(str(source), destination)
    if not capabilities_of(destination).writable:
        pytest.skip(f"{capabilities_of(destination).kind}: writable = no once finished")
    if not capabilities_of(destination).merge:
        with pytest.raises(UsageError, match=r"cannot merge .*choose --on-conflict fail, skip or rename"):
            mlmigrate.copy(str(source), destination, on_conflict="merge")
        refused = run_cli("copy", str(source), destination, "--on-conflict", "merge")
        assert refused.returncode == 2 and "Traceback" not in refused.stderr, show(refused)
        pytest.skip(f"{capabilities_of(destination).kind}: merge = no (refused up front, as checked)")
    runs = rows(destination, "runs")
    merged = mlmigrate.copy(str(source), destination, on_conflict="merge").as_dict()
    assert merged["status"] == "done" and merged["verify"]["ok"], merged
    assert rows(destination, "runs") == runs


def test_rollback_removes_exactly_what_the_migration_wrote(source: Path, destination: str) -> None:
    mlmigrate.copy(str(source), destination)
    capabilities = capabilities_of(destination)
    if not capabilities.rollback:
        with pytest.raises(UsageError, match="cannot remove what one migration wrote"):
            rollback(destination_uri=destination)
        pytest.skip(f"{capabilities.kind}: rollback = no (refused up front, as checked)")
    result = rollback(destination_uri=destination)
    assert result.verify.ok and result.removed, result.as_dict()
    assert rows(destination, "runs") == 0 and rows(destination, "params") == 0
    again = mlmigrate.copy(str(source), destination).as_dict()  # and it can be copied again
    assert again["verify"]["ok"] and rows(destination, "runs") == 2


def test_rollback_last_from_the_cli(source: Path, destination: str) -> None:
    copied = run_cli("copy", str(source), destination, "-q")
    assert copied.returncode == 0, show(copied)
    if not capabilities_of(destination).rollback:
        refused = run_cli("rollback", "--last", destination)
        assert refused.returncode == 2 and "rollback = no" in refused.stderr, show(refused)
        pytest.skip(f"{capabilities_of(destination).kind}: rollback = no (refused with exit 2, as checked)")
    rolled = run_cli("rollback", "--last", destination)
    assert rolled.returncode == 0 and "Traceback" not in rolled.stderr, show(rolled)
    assert rows(destination, "runs") == 0


def test_sigkill_after_a_unit_commit_resumes_to_an_exact_copy(source: Path, destination: str) -> None:
    copy_killed_after_first_commit(str(source), destination)
    resumed = run_cli("copy", str(source), destination, "--json")
    assert resumed.returncode == 0, show(resumed)
    assert mlmigrate.verify(str(source), destination).ok
    assert rows(destination, "runs") == 2 and rows(destination, "metrics") == 6


def test_bad_input_writes_nothing_of_its_unit(source: Path, destination: str) -> None:
    experiment = next(p for p in sorted(source.iterdir()) if p.name.isdigit() and p.name != "0")
    run = next(p for p in sorted(experiment.iterdir()) if (p / "meta.yaml").is_file())
    (run / "meta.yaml").write_text("run_id: [unclosed\n")
    with pytest.raises(SourceFormatError, match=str(run / "meta.yaml")):
        mlmigrate.copy(str(source), destination)
    assert rows(destination, "runs") == 0
