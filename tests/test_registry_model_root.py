"""``--models DIR`` on plan, copy and verify (the issue's spelling of a registry's model root),
and each model file's size and SHA-256 compared at both ends of a registry pair."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from cli_helpers import invoke, show
from registry_fixtures import clean_registry

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="session")
def model_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The app's registry.json and its 9 model files (3 models × 3 versions), built once."""
    root = tmp_path_factory.mktemp("model-root") / "models"
    clean_registry(root)
    return root


def test_plan_and_copy_take_the_model_root_and_verify_each_file(model_root: Path, tmp_path: Path) -> None:
    source = str(model_root / "registry.json")
    planned = invoke("plan", source, "--models", str(model_root), "--json")
    assert planned.returncode == 0, show(planned)
    notes = [f["message"] for f in json.loads(planned.stdout)["source_findings"] if f["code"] == "note"]
    assert any(f"model root {model_root.resolve()}" in note for note in notes), notes
    database = tmp_path / "db" / "registry.db"
    copied = invoke("copy", source, f"sqlite:///{database}", "--models", str(model_root), "--json")
    assert copied.returncode == 0, show(copied)
    verified = json.loads(copied.stdout)["verify"]
    assert verified["ok"] and verified["artifacts"]["objects_checked"] == {"model files": 9}, verified
    again = invoke("verify", source, f"sqlite:///{database}", "--models", str(model_root), "--json")
    assert again.returncode == 0, show(again)
    assert json.loads(again.stdout)["artifacts"]["objects_checked"] == {"model files": 9}


def test_verify_names_a_model_file_changed_or_missing_at_the_destination(
    model_root: Path, tmp_path: Path
) -> None:
    theirs = tmp_path / "their-models"
    shutil.copytree(model_root, theirs)
    changed = theirs / "binary_classifier" / "v1" / "model.pkl"
    data = bytearray(changed.read_bytes())
    data[-2] ^= 0xFF  # same size, another byte
    changed.write_bytes(bytes(data))
    (theirs / "linear_predictor" / "v2" / "model.pkl").unlink()
    destination = f"registry+sqlite:///{tmp_path / 'registry.db'}?models={theirs}"
    source = str(model_root / "registry.json")
    copied = invoke("copy", source, destination, "--no-verify")
    assert copied.returncode == 0, show(copied)
    found = invoke("verify", source, destination, "--models", str(model_root), "--json")
    assert found.returncode == 3, show(found)
    mismatches = json.loads(found.stdout)["mismatches"]
    problems = {(m["unit"], m["object"], m["problem"]) for m in mismatches if "object" in m}
    assert problems == {
        ("registry_model:binary_classifier", "binary_classifier/v1/model.pkl", "contents differ (SHA-256)"),
        ("registry_model:linear_predictor", "linear_predictor/v2/model.pkl", "missing at the destination"),
    }
    without = invoke("verify", source, destination, "--json")  # no root named at the source: no files
    assert without.returncode == 0 and json.loads(without.stdout)["artifacts"]["note"].startswith(
        "model files not compared: the source"
    ), show(without)


def test_models_is_refused_for_a_source_that_is_no_registry(tmp_path: Path) -> None:
    refused = invoke("plan", str(REPO / "examples" / "mlruns"), "--models", str(tmp_path))
    assert refused.returncode != 0 and "not a registry" in refused.stderr, show(refused)
