"""Differential check on seeded random stores: what MLflow reads from the source it reads from
the destination."""

from __future__ import annotations

from pathlib import Path

import pytest
from contract.kinds import tolerances
from mlflow_compare import compare_stores
from random_store import make_random_store

import mlmigrate

SEEDS = [1, 2, 3, 4, 5, 6]


@pytest.mark.parametrize("seed", SEEDS, ids=lambda s: f"seed-{s}")
def test_random_store_arrives_equal_in_sqlite(seed: int, tmp_path: Path) -> None:
    source = make_random_store(tmp_path / "src", seed)
    destination = f"sqlite:///{tmp_path / 'dst.db'}"

    report = mlmigrate.copy(str(source), destination)

    assert report.status == "done" and report.verify and report.verify["ok"], report.as_dict()
    assert compare_stores(source.as_uri(), destination, tolerate=tolerances(destination)) == []


@pytest.mark.parametrize("seed", SEEDS[:2], ids=lambda s: f"seed-{s}")
def test_random_store_arrives_equal_in_postgresql(seed: int, tmp_path: Path, postgres_db: str) -> None:
    source = make_random_store(tmp_path / "src", seed)

    report = mlmigrate.copy(str(source), postgres_db)

    assert report.status == "done" and report.verify and report.verify["ok"], report.as_dict()
    assert compare_stores(source.as_uri(), postgres_db, tolerate=tolerances(postgres_db)) == []
