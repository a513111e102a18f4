"""The copy contract on every kind: the edge-case store arrives as MLflow read it, a re-run
adds nothing, verify catches a changed value; and every registered kind is in the suite."""

from __future__ import annotations

import importlib
from pathlib import Path

from cli_helpers import run_cli_here as run_cli
from cli_helpers import show, sqlite_uri
from mlflow_compare import compare_stores

import mlmigrate
from mlmigrate.stores.kinds import DESTINATION
from mlmigrate.stores.kinds import KINDS as REGISTRY

from .kinds import KINDS, StoreKindFixture, capabilities_of, tolerances
from .store_types import DESTINATION_CLASSES


def mlflow_differences(kind: StoreKindFixture, source: Path, destination: str, tmp_path: Path) -> list[str]:
    """How MLflow's reading of ``destination`` differs from its reading of ``source`` (a store
    MLflow cannot read is compared after a copy back out into SQLite)."""
    if kind.read_by_mlflow:
        return compare_stores(source.as_uri(), destination, tolerate=tolerances(destination))
    back = sqlite_uri(tmp_path / "back.db")
    assert mlmigrate.copy(destination, back).as_dict()["verify"]["ok"]
    return compare_stores(source.as_uri(), back, tolerate=tolerances(destination, back))


def test_every_registered_store_class_is_checked_by_the_type_checker() -> None:
    for record in REGISTRY:
        module, _, name = record.target.partition(":")
        assert getattr(importlib.import_module(module), name) in DESTINATION_CLASSES, record.name


def test_every_registered_destination_kind_has_a_contract_fixture() -> None:
    """MLflow's kinds here; the registry family's in ``registry_kinds`` (its own contract)."""
    from .registry_kinds import REGISTRY_KINDS

    mlflow_kinds = {r.name for r in REGISTRY if DESTINATION in r.roles and r.family == "mlflow"}
    assert {kind.name for kind in KINDS} == mlflow_kinds  # plain tables: test_contract_tables.py
    registry = {r.name for r in REGISTRY if DESTINATION in r.roles and r.family == "registry"}
    assert {kind.name for kind in REGISTRY_KINDS} == registry


def test_the_edge_store_arrives_as_mlflow_read_it(
    kind: StoreKindFixture, edge_store: Path, destination: str, tmp_path: Path
) -> None:
    report = mlmigrate.copy(str(edge_store), destination).as_dict()

    assert report["status"] == "done", report
    assert report["verify"]["ok"], report["verify"]["mismatches"]
    assert report["skipped_units"] == [] and report["failed_units"] == []
    # the edge store logs exactly one exact duplicate metric point: a key that holds it once says so
    unique = capabilities_of(destination).unique_metric_points
    assert report["collapsed_duplicates"] == ({"metrics": 1} if unique else {})
    assert mlflow_differences(kind, edge_store, destination, tmp_path) == []


def test_the_small_store_arrives_with_every_row(
    kind: StoreKindFixture, minimal_store: Path, destination: str
) -> None:
    report = mlmigrate.copy(str(minimal_store), destination).as_dict()

    assert report["status"] == "done" and report["verify"]["ok"], report
    source_counts = next(k for k in KINDS if k.name == "filestore").counts(str(minimal_store))
    assert kind.counts(destination) == source_counts
    assert source_counts["runs"] == 2 and source_counts["metrics"] == 6


def test_a_rerun_adds_nothing(kind: StoreKindFixture, minimal_store: Path, destination: str) -> None:
    first = mlmigrate.copy(str(minimal_store), destination).as_dict()
    before = kind.counts(destination)

    again = mlmigrate.copy(str(minimal_store), destination).as_dict()

    assert again["status"] == "up-to-date", again
    assert again["migration_id"] == first["migration_id"] and again["rows_written"] == 0
    assert kind.counts(destination) == before
    from_cli = run_cli("copy", str(minimal_store), destination)
    assert from_cli.returncode == 0 and "nothing to do" in from_cli.stderr, show(from_cli)


def test_verify_catches_a_changed_value(
    kind: StoreKindFixture, minimal_store: Path, destination: str
) -> None:
    mlmigrate.copy(str(minimal_store), destination)
    clean = run_cli("verify", str(minimal_store), destination)
    assert clean.returncode == 0, show(clean)

    kind.tamper(destination)

    result = mlmigrate.verify(str(minimal_store), destination)
    assert not result.ok
    assert {m["table"] for m in result.as_dict()["mismatches"]} == {"params"}, result.as_dict()
    checked = run_cli("verify", str(minimal_store), destination)
    assert checked.returncode == 3 and "params" in checked.stderr, show(checked)
