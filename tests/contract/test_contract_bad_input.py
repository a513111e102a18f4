"""Bad input on every kind: a damaged source unit writes nothing of itself (``--on-error skip``
copies the rest), a bad option and a store copied onto itself are refused up front."""

from __future__ import annotations

from pathlib import Path

import pytest
from cli_helpers import json_stdout, show
from cli_helpers import run_cli_here as run_cli

import mlmigrate
from mlmigrate.exceptions import SourceFormatError

from .kinds import StoreKindFixture


def _damage_a_run(mlruns: Path) -> Path:
    experiment = next(p for p in sorted(mlruns.iterdir()) if p.name.isdigit() and p.name != "0")
    run = next(p for p in sorted(experiment.iterdir()) if (p / "meta.yaml").is_file())
    (run / "meta.yaml").write_text("run_id: [unclosed\n")
    return run / "meta.yaml"


def test_a_damaged_unit_writes_nothing_of_itself(
    kind: StoreKindFixture, minimal_store: Path, destination: str
) -> None:
    damaged = _damage_a_run(minimal_store)

    with pytest.raises(SourceFormatError, match=str(damaged)):
        mlmigrate.copy(str(minimal_store), destination)

    assert kind.count(destination, "runs") == 0 and kind.count(destination, "params") == 0


def test_on_error_skip_copies_everything_else(
    kind: StoreKindFixture, minimal_store: Path, destination: str
) -> None:
    damaged = _damage_a_run(minimal_store)

    result = run_cli("copy", str(minimal_store), destination, "--on-error", "skip", "--json")

    assert result.returncode == 0, show(result)
    report = json_stdout(result)
    assert [unit["error"] for unit in report["skipped_units"]] and str(damaged) in str(
        report["skipped_units"]
    )
    assert kind.count(destination, "runs") == 0  # the damaged run's experiment is left out whole
    assert kind.count(destination, "registered_models") == 1  # the model is copied


def test_a_bad_batch_size_is_refused_before_anything_is_written(
    kind: StoreKindFixture, minimal_store: Path, destination: str
) -> None:
    refused = run_cli("copy", str(minimal_store), destination, "--batch-size", "0")

    assert refused.returncode == 2 and "Traceback" not in refused.stderr, show(refused)
    assert kind.counts(destination) == dict.fromkeys(kind.counts(destination), 0)


def test_a_store_is_never_copied_onto_itself(
    kind: StoreKindFixture, minimal_store: Path, destination: str
) -> None:
    assert mlmigrate.copy(str(minimal_store), destination).status == "done"
    before = kind.counts(destination)

    refused = run_cli("copy", destination, destination)

    assert refused.returncode == 2, show(refused)
    assert "both the source and the destination" in refused.stderr, show(refused)
    assert kind.counts(destination) == before
