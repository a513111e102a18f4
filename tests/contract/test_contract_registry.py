"""The registry family's contract on each of its kinds: a registry arrives with every row, a
re-run adds nothing, verify catches a changed tag (exit 3), a copy killed after its first group of units
resumes to the same rows, ``--on-conflict fail`` lists clashes and ``skip`` keeps them, and
rollback removes exactly what the copy wrote."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from cli_helpers import run_cli_here as run_cli
from cli_helpers import show
from kill_helpers import copy_killed_after_first_commit
from registry_fixtures import clean_registry

from .registry_kinds import REGISTRY_KINDS, RegistryKindFixture

EXPECTED = {"mr_models": 3, "mr_model_versions": 9, "mr_model_tags": 45}


@pytest.fixture(scope="session")
def registry_source(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The app's registry.json (3 × 3, every tag type), built once."""
    root = tmp_path_factory.mktemp("contract-registry") / "models"
    clean_registry(root)
    return root / "registry.json"


@pytest.fixture(params=REGISTRY_KINDS, ids=[kind.name for kind in REGISTRY_KINDS])
def registry_kind(request: pytest.FixtureRequest) -> RegistryKindFixture:
    """Each registry kind in turn."""
    return request.param


def _copy(*args: str) -> dict:
    copied = run_cli("copy", *args, "--json")
    assert copied.returncode == 0, show(copied)
    return json.loads(copied.stdout)


def test_a_registry_arrives_reruns_add_nothing_and_verify_catches_a_change(
    registry_kind: RegistryKindFixture, registry_source: Path, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    destination = registry_kind.make(request, tmp_path)
    (tmp_path / "out").mkdir(exist_ok=True)
    copy_killed_after_first_commit(str(registry_source), destination, "--batch-size", "2")
    assert registry_kind.count(destination, "mr_models") == 2  # the first group: 2 models, one commit
    report = _copy(str(registry_source), destination)
    assert report["verify"]["ok"] and report["units"]["done"] == 3
    assert {t: registry_kind.count(destination, t) for t in EXPECTED} == EXPECTED
    assert _copy(str(registry_source), destination)["rows_written"] == 0
    registry_kind.tamper(destination)
    assert run_cli("verify", str(registry_source), destination).returncode == 3


def test_rollback_then_conflicts(
    registry_kind: RegistryKindFixture, registry_source: Path, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    destination = registry_kind.make(request, tmp_path)
    (tmp_path / "out").mkdir(exist_ok=True)
    _copy(str(registry_source), destination)
    undone = run_cli("rollback", "--last", destination)
    assert undone.returncode == 0, show(undone)
    assert registry_kind.count(destination, "mr_models") == 0
    _copy(str(registry_source), destination)
    assert registry_kind.count(destination, "mr_models") == 3
    other = tmp_path / "other.json"
    other.write_bytes(registry_source.read_bytes())
    refused = run_cli("copy", str(other), destination)
    assert refused.returncode != 0 and "binary_classifier" in refused.stderr, show(refused)
    assert _copy(str(other), destination, "--on-conflict", "skip")["rows_written"] == 0
    assert {t: registry_kind.count(destination, t) for t in EXPECTED} == EXPECTED
