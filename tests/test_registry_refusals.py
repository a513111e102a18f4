"""What a registry copy refuses or leaves out: MLflow's registry into a home-made registry's
layout (refused with the reason, before anything is written), and a model a group cannot take."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest
from cli_helpers import invoke, show
from registry_fixtures import clean_registry

from mlmigrate.stores.registry.layout import SQLITE_DDL

REPO = Path(__file__).resolve().parent.parent


@pytest.mark.parametrize("destination", ["registry.json", "registry+sqlite:///{tmp}/registry.db"])
def test_an_mlflow_store_into_a_registry_is_refused_saying_why(destination: str, tmp_path: Path) -> None:
    target = destination.format(tmp=tmp_path) if "{tmp}" in destination else str(tmp_path / destination)
    refused = invoke("copy", str(REPO / "examples" / "mlruns"), target)
    assert refused.returncode == 2, show(refused)
    assert "is not built" in refused.stderr and "MLmodel" in refused.stderr, show(refused)
    assert list(tmp_path.iterdir()) == []  # nothing written, not even an empty file


def test_a_group_a_row_breaks_is_written_again_model_by_model(tmp_path: Path) -> None:
    """Models go in groups, one transaction each; a group one model's row breaks (its id held by
    another model) is written again model by model: only that model is left out (--on-error
    skip), named with the reason, and the others arrive."""
    root = tmp_path / "models"
    clean_registry(root, models=5, versions=1)
    database = tmp_path / "registry.db"
    with sqlite3.connect(database) as db:
        db.executescript(SQLITE_DDL)
        db.execute("INSERT INTO mr_models (id, name, created_at, updated_at) VALUES (3, 'intruder', '', '')")
    copied = invoke(
        "copy", str(root / "registry.json"), f"registry+sqlite:///{database}", "--on-error", "skip", "--json"
    )
    assert copied.returncode == 4, show(copied)
    with sqlite3.connect(database) as db:
        names = {row[0] for row in db.execute("SELECT name FROM mr_models")}
    assert names == {"intruder", "binary_classifier", "linear_predictor", "model_3", "model_4"}
    skipped = json.loads(copied.stdout)["skipped_units"]
    assert [entry["label"] for entry in skipped] == ["modèle-ünïcode"], skipped
    assert "UNIQUE" in skipped[0]["error"] or "unique" in skipped[0]["error"].lower(), skipped
