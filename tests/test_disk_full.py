"""A SQLite destination on a full disk: the copy stops saying so, resumably, and nothing of the
unit is left (the error said 'cannot rollback - no transaction is active')."""

from __future__ import annotations

from pathlib import Path

from cli_helpers import invoke, show, sqlite_uri


def test_a_full_disk_is_named_as_such(minimal_store: Path, small_disk: Path) -> None:
    experiment = next(p for p in sorted(minimal_store.iterdir()) if p.name.isdigit() and p.name != "0")
    run = next(p.parent for p in sorted(experiment.glob("*/meta.yaml")))
    (run / "tags" / "big").write_text("x" * 400_000)  # more than the disk has left after the schema

    failed = invoke("copy", str(minimal_store), sqlite_uri(small_disk / "mlflow.db"), "-q")

    assert failed.returncode == 1, show(failed)
    assert "database or disk is full" in failed.stderr, show(failed)
    assert "cannot rollback" not in failed.stderr, show(failed)
    assert "resume with:" in failed.stderr
