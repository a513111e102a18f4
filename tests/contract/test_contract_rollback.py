"""Rollback on every kind: it removes exactly what one migration wrote, refuses (changing
nothing) when those rows were changed since, or is refused up front where the kind cannot."""

from __future__ import annotations

from pathlib import Path

import pytest
from cli_helpers import run_cli_here as run_cli
from cli_helpers import show

import mlmigrate
from mlmigrate.engine.rollback import rollback
from mlmigrate.exceptions import UsageError

from .kinds import StoreKindFixture, capabilities_of


def _rollback_or_refusal(destination: str) -> None:
    """Skip, naming the capability, where the kind has no rollback, after checking the refusal."""
    capabilities = capabilities_of(destination)
    if capabilities.rollback:
        return
    with pytest.raises(UsageError, match="cannot remove what one migration wrote"):
        rollback(destination_uri=destination)
    refused = run_cli("rollback", "--last", destination)
    assert refused.returncode == 2 and "rollback = no" in refused.stderr, show(refused)
    pytest.skip(f"{capabilities.kind}: rollback = no (refused up front, as checked)")


def test_rollback_removes_exactly_what_the_migration_wrote(
    kind: StoreKindFixture, minimal_store: Path, other_minimal_store: Path, destination: str
) -> None:
    mlmigrate.copy(str(minimal_store), destination)
    _rollback_or_refusal(destination)

    result = rollback(destination_uri=destination)

    assert result.verify.ok and result.removed, result.as_dict()
    assert kind.count(destination, "runs") == 0 and kind.count(destination, "params") == 0
    assert kind.count(destination, "model_versions") == 0
    again = mlmigrate.copy(str(other_minimal_store), destination).as_dict()  # and it takes a copy again
    assert again["verify"]["ok"] and kind.count(destination, "runs") == 2


def test_rollback_last_from_the_cli(kind: StoreKindFixture, minimal_store: Path, destination: str) -> None:
    copied = run_cli("copy", str(minimal_store), destination, "-q")
    assert copied.returncode == 0, show(copied)
    _rollback_or_refusal(destination)

    rolled = run_cli("rollback", "--last", destination)

    assert rolled.returncode == 0 and "Traceback" not in rolled.stderr, show(rolled)
    assert kind.count(destination, "runs") == 0
    again = run_cli("rollback", "--last", destination)
    assert again.returncode == 0 and "already rolled back" in again.stderr, show(again)


def test_rollback_refuses_and_changes_nothing_when_the_rows_changed_since(
    kind: StoreKindFixture, minimal_store: Path, destination: str
) -> None:
    mlmigrate.copy(str(minimal_store), destination)
    _rollback_or_refusal(destination)
    kind.tamper(destination)
    before = kind.counts(destination)

    refused = run_cli("rollback", "--last", destination)

    assert refused.returncode == 1, show(refused)
    assert "nothing was rolled back" in refused.stderr and "params" in refused.stderr, show(refused)
    assert kind.counts(destination) == before
