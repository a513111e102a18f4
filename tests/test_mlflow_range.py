"""mlmigrate fits the user's MLflow (issue 12 item 9): it needs only ``mlflow-skinny`` from the
supported range, and runs with whichever release of the range is installed (scripts/test.sh runs
the store tests with the oldest and the newest)."""

from __future__ import annotations

import importlib.metadata
import sqlite3
from pathlib import Path

from cli_helpers import invoke, json_stdout, show, sqlite_uri
from packaging.requirements import Requirement
from packaging.version import Version

from mlmigrate.mlflow_cache import mlflow_version

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "mlruns"


def _requirements() -> dict[str, Requirement]:
    found = [Requirement(text) for text in importlib.metadata.requires("mlmigrate") or []]
    return {req.name.lower(): req for req in found if req.marker is None}


def test_the_runtime_needs_mlflow_skinny_in_a_range_not_full_mlflow() -> None:
    requirements = _requirements()

    assert "mlflow" not in requirements  # full mlflow (flask, scikit-learn…) is not pulled in
    skinny = requirements["mlflow-skinny"]
    assert skinny.specifier.contains("3.17.0") and not skinny.specifier.contains("3.16.1")
    assert "alembic" in requirements and "sqlalchemy" in requirements


def test_the_installed_mlflow_is_in_the_range_and_named_in_the_report(tmp_path: Path) -> None:
    installed = mlflow_version()
    assert installed is not None
    assert _requirements()["mlflow-skinny"].specifier.contains(Version(installed))

    copied = invoke("copy", str(EXAMPLE), sqlite_uri(tmp_path / "d.db"), "--json")

    assert copied.returncode == 0, show(copied)
    assert json_stdout(copied)["versions"]["mlflow"] == installed
    from mlmigrate.stores.sql.schema import known_revisions

    head, _ = known_revisions()
    with sqlite3.connect(tmp_path / "d.db") as connection:
        (revision,) = connection.execute("SELECT version_num FROM alembic_version").fetchone()
    assert revision == head  # the installed MLflow's schema, whichever release of the range
