"""Crash safety on every kind: a copy SIGKILLed at any unit boundary (a unit committed in the
destination, not yet in the journal) resumes to an exact copy, merged units included."""

from __future__ import annotations

from pathlib import Path

import pytest
from cli_helpers import json_stdout, show
from cli_helpers import run_cli_here as run_cli
from kill_helpers import copy_killed_after_commit

import mlmigrate

from .conftest import known_bug, require
from .kinds import KINDS, StoreKindFixture

#: the small store's units: the Default experiment, the experiment 'minimal', its model
UNITS = 3
FILESTORE = next(kind for kind in KINDS if kind.name == "filestore")


@pytest.mark.parametrize("nth", range(1, UNITS + 1), ids=lambda n: f"killed-after-unit-{n}")
def test_sigkill_after_a_unit_commit_resumes_to_an_exact_copy(
    kind: StoreKindFixture, minimal_store: Path, destination: str, nth: int
) -> None:
    copy_killed_after_commit(str(minimal_store), destination, "--workers", "1", nth=nth)

    resumed = run_cli("copy", str(minimal_store), destination, "--json")

    assert resumed.returncode == 0, show(resumed)
    assert "resuming migration" in resumed.stderr, show(resumed)
    assert json_stdout(resumed)["verify"]["ok"]
    assert kind.counts(destination) == FILESTORE.counts(str(minimal_store))  # nothing doubled or lost
    assert mlmigrate.verify(str(minimal_store), destination).ok


def test_a_merge_killed_after_its_commit_resumes_without_touching_other_runs(
    kind: StoreKindFixture,
    minimal_store: Path,
    other_minimal_store: Path,
    destination: str,
    request: pytest.FixtureRequest,
) -> None:
    """The first merged unit commits, the process dies before journaling it; the resume writes
    that unit again, clearing only the rows it brought, not the destination's own runs."""
    assert mlmigrate.copy(str(minimal_store), destination).status == "done"
    require(destination, "writable", after=" once finished")
    require(destination, "merge")
    known_bug(request, kind, "merge")
    before = kind.counts(destination)
    merge = ("--on-conflict", "merge", "--workers", "1")

    copy_killed_after_commit(str(other_minimal_store), destination, *merge, merged=True)
    assert kind.count(destination, "runs") == before["runs"] + 2  # committed, not journaled
    resumed = run_cli("copy", str(other_minimal_store), destination, *merge[:2], "--json")

    assert resumed.returncode == 0, show(resumed)
    assert json_stdout(resumed)["verify"]["ok"]
    after = kind.counts(destination)
    assert after["runs"] == before["runs"] + 2 and after["metrics"] == 2 * before["metrics"]
    assert after["model_versions"] == before["model_versions"] + 1
    assert after["experiments"] == before["experiments"]
    assert run_cli("verify", str(other_minimal_store), destination).returncode == 0
