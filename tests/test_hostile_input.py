"""Hostile pairs and files: nothing is written into the source, nothing hangs."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

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
