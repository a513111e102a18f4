"""A FileStore as the destination: MLflow reads what we write exactly as it read the source."""

from __future__ import annotations

from pathlib import Path

import pytest
from cli_helpers import invoke, show, sqlite_uri
from contract.kinds import tolerances
from kill_helpers import copy_killed_after_first_commit
from mlflow_compare import compare_stores

import mlmigrate


def _run_dirs(mlruns: Path) -> list[Path]:
    metas = [*mlruns.glob("*/*/meta.yaml"), *mlruns.glob(".trash/*/*/meta.yaml")]
    return [p.parent for p in metas if len(p.parent.name) == 32]


def test_filestore_to_filestore_is_read_by_mlflow_as_the_source(edge_store: Path, tmp_path: Path) -> None:
    destination = tmp_path / "bundle"

    report = mlmigrate.copy(str(edge_store), str(destination)).as_dict()

    assert report["status"] == "done", report
    assert report["verify"]["ok"], report["verify"]["mismatches"]
    # what MLflow reads back is compared by the contract suite (tests/contract); here: the files
    # MLflow's own layout: every run folder has the folders MLflow looks a run up by
    runs = _run_dirs(destination)
    assert len(runs) == 13
    assert all((run / sub).is_dir() for run in runs for sub in ("metrics", "params", "artifacts"))
    # metric files are MLflow's text, NaN and ±inf included, byte for byte
    for source_file in edge_store.glob("*/*/metrics/special"):
        written = destination / source_file.relative_to(edge_store)
        assert written.read_bytes() == source_file.read_bytes()
        assert b"\nnan " not in written.read_bytes() and b" inf " in written.read_bytes()
    assert not (tmp_path / ".bundle.mlmigrate-staging").exists()
    assert mlmigrate.verify(str(edge_store), str(destination)).ok  # duplicates kept on both sides


def test_a_store_is_never_copied_onto_itself(minimal_store: Path) -> None:
    result = invoke("copy", str(minimal_store), minimal_store.as_uri())

    assert result.returncode == 2, show(result)
    assert "both the source and the destination" in result.stderr


@pytest.mark.parametrize("database", ["sqlite", "postgresql", "mysql"])
def test_database_to_filestore_is_read_by_mlflow_as_the_original(
    edge_store: Path, tmp_path: Path, database: str, request: pytest.FixtureRequest
) -> None:
    middle = (
        sqlite_uri(tmp_path / "mid.db")
        if database == "sqlite"
        else request.getfixturevalue("postgres_db" if database == "postgresql" else "mysql_db")
    )
    bundle = tmp_path / "mlruns-bundle"
    assert mlmigrate.copy(str(edge_store), middle).status == "done"

    result = invoke("copy", middle, str(bundle), "--json")

    assert result.returncode == 0, show(result)
    tolerated = tolerances(middle, str(bundle))  # what each store on the way holds differently
    assert compare_stores(edge_store.as_uri(), bundle.as_uri(), tolerate=tolerated) == []
    # experiment ids of the database are kept (small ints there; the FileStore takes any)
    assert mlmigrate.verify(middle, str(bundle)).ok


def test_filestore_copy_killed_mid_unit_resumes_without_half_experiments(
    minimal_store: Path, tmp_path: Path
) -> None:
    destination = tmp_path / "bundle"
    copy_killed_after_first_commit(str(minimal_store), str(destination))
    # what was moved into place is whole: MLflow reads it without error
    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri=destination.as_uri())
    assert [e.name for e in client.search_experiments()]  # readable

    resumed = invoke("copy", str(minimal_store), str(destination))

    assert resumed.returncode == 0, show(resumed)
    assert (
        compare_stores(minimal_store.as_uri(), destination.as_uri(), tolerate=tolerances(str(destination)))
        == []
    )
    assert not (tmp_path / ".bundle.mlmigrate-staging").exists()
