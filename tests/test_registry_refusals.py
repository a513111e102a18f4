"""MLflow's registry into a home-made registry's layout is refused, with the reason, before
anything is written."""

from __future__ import annotations

from pathlib import Path

import pytest
from cli_helpers import invoke, show

REPO = Path(__file__).resolve().parent.parent


@pytest.mark.parametrize("destination", ["registry.json", "registry+sqlite:///{tmp}/registry.db"])
def test_an_mlflow_store_into_a_registry_is_refused_saying_why(destination: str, tmp_path: Path) -> None:
    target = destination.format(tmp=tmp_path) if "{tmp}" in destination else str(tmp_path / destination)
    refused = invoke("copy", str(REPO / "examples" / "mlruns"), target)
    assert refused.returncode == 2, show(refused)
    assert "is not built" in refused.stderr and "MLmodel" in refused.stderr, show(refused)
    assert list(tmp_path.iterdir()) == []  # nothing written, not even an empty file
