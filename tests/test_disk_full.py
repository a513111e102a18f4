"""A SQLite destination on a full disk: the copy stops saying so, resumably, and nothing of the
unit is left (the error said 'cannot rollback - no transaction is active')."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from cli_helpers import invoke, show, sqlite_uri


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 1000 KiB tmpfs: room for MLflow's empty schema (about 930 KiB) and little more."""
    folder = tmp_path / "small-disk"
    folder.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=1000k", "tmpfs", str(folder)], capture_output=True, text=True
    )
    if mounted.returncode != 0:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"cannot mount a tmpfs: {mounted.stderr}")
        pytest.skip(f"cannot mount a tmpfs: {mounted.stderr}")
    try:
        yield folder
    finally:
        subprocess.run(["umount", "-l", str(folder)], check=False)


def test_a_full_disk_is_named_as_such(minimal_store: Path, small_disk: Path) -> None:
    experiment = next(p for p in sorted(minimal_store.iterdir()) if p.name.isdigit() and p.name != "0")
    run = next(p.parent for p in sorted(experiment.glob("*/meta.yaml")))
    (run / "tags" / "big").write_text("x" * 400_000)  # more than the disk has left after the schema

    failed = invoke("copy", str(minimal_store), sqlite_uri(small_disk / "mlflow.db"), "-q")

    assert failed.returncode == 1, show(failed)
    assert "database or disk is full" in failed.stderr, show(failed)
    assert "cannot rollback" not in failed.stderr, show(failed)
    assert "resume with:" in failed.stderr
