"""A home-made registry copied into MLflow's registry: every model a registered model, every
version with its number, description, tags and creation time, its model file as the version's
artifacts (downloaded through ``models:/NAME/VERSION``), on SQLite and on PostgreSQL served by a
real ``mlflow server``; plan lists the problems, a re-run adds nothing, a killed copy resumes."""

from __future__ import annotations

import json
import shutil
from datetime import datetime, timezone
from pathlib import Path

import pytest
from cli_helpers import invoke, show
from kill_helpers import copy_killed_after_first_commit
from mlflow_compare import normalize_uri
from registry_fixtures import clean_registry, quirky_registry
from test_sql_pairs import _mlflow_server


@pytest.fixture(scope="session")
def app_registry(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A clean registry (3 models × 3 versions, every tag type), built once."""
    root = tmp_path_factory.mktemp("app") / "models"
    clean_registry(root)
    return root


def _versions(tracking_uri: str) -> dict[tuple[str, str], object]:
    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri)
    return {(v.name, str(v.version)): v for v in client.search_model_versions(max_results=1000)}


def _expected(root: Path) -> dict[tuple[str, str], dict[str, object]]:
    document = json.loads((root / "registry.json").read_text())
    expected = {}
    for name, entries in document.items():
        for entry in entries:
            moment = datetime.fromisoformat(entry["created_at"]).replace(tzinfo=timezone.utc)
            expected[(name, entry["version"])] = {
                "description": entry["description"],
                "tags": {
                    k: v if isinstance(v, str) else json.dumps(v, ensure_ascii=False)
                    for k, v in entry["tags"].items()
                },
                "created": int(moment.timestamp() * 1000),
                "bytes": (root / entry["storage_path"]).read_bytes(),
            }
    return expected


def _check(tracking_uri: str, root: Path, tmp_path: Path) -> None:
    import mlflow

    versions = _versions(tracking_uri)
    expected = _expected(root)
    assert set(versions) == set(expected)
    mlflow.set_tracking_uri(tracking_uri)
    mlflow.set_registry_uri(tracking_uri)
    for (name, number), want in expected.items():
        version = versions[(name, number)]
        assert (version.description or "") == want["description"]
        assert version.tags == want["tags"]
        assert version.creation_timestamp == want["created"]
        folder = Path(
            mlflow.artifacts.download_artifacts(
                f"models:/{name}/{number}", dst_path=str(tmp_path / name / number)
            )
        )
        assert (folder / "model.pkl").read_bytes() == want["bytes"]


def test_json_into_mlflow_on_sqlite_with_the_model_files(app_registry: Path, tmp_path: Path) -> None:
    source = f"{app_registry / 'registry.json'}?timezone=UTC"
    destination = f"sqlite:///{tmp_path / 'mlflow.db'}"
    planned = invoke("plan", source, "--json")
    assert planned.returncode == 0, show(planned)
    plan = json.loads(planned.stdout)
    # plan counts the source's own rows (it has no --into yet)
    assert plan["tables"] == {
        "mr_models": 3,
        "mr_model_versions": 9,
        "mr_model_tags": 45,
        "mlmigrate_mr_tag_types": 36,
    }
    assert "naive timestamps read as UTC" in plan["source_findings"][0]["message"]
    copied = invoke(
        "copy",
        source,
        destination,
        "--into",
        "mlflow",
        "--artifacts-to",
        str(tmp_path / "artifacts"),
        "--json",
    )
    assert copied.returncode == 0, show(copied)
    report = json.loads(copied.stdout)
    assert report["verify"]["ok"] and report["artifacts"]["kinds"]["model_version"]["copied"] == 9
    shutil.move(app_registry, app_registry.with_name("moved"))  # the copy must not need the source files
    try:
        _check(destination, app_registry.with_name("moved"), tmp_path / "downloads")
    finally:
        shutil.move(app_registry.with_name("moved"), app_registry)
    again = invoke(
        "copy",
        source,
        destination,
        "--into",
        "mlflow",
        "--artifacts-to",
        str(tmp_path / "artifacts"),
        "--json",
    )
    assert again.returncode == 0, show(again)
    assert json.loads(again.stdout)["rows_written"] == 0
    assert invoke("verify", source, destination).returncode == 0


def test_sqlite_registry_into_postgresql_resumes_after_sigkill_and_serves_over_rest(
    postgres_db: str, tmp_path: Path
) -> None:
    root = tmp_path / "models"
    quirky_registry(root)
    source = f"registry+sqlite:///{root / 'registry.db'}?timezone=UTC"
    copy_killed_after_first_commit(source, postgres_db, "--into", "mlflow")
    resumed = invoke("copy", source, postgres_db, "--into", "mlflow", "--json")
    assert resumed.returncode == 0, show(resumed)
    report = json.loads(resumed.stdout)
    assert report["verify"]["ok"]
    assert report["units"]["done"] == 3
    codes = sorted(f["code"] for f in report["source_findings"])
    assert codes == [
        "missing_file",
        "note",
        "orphan_tag",
        "orphan_tag",
        "orphan_tag",
        "reused_id",
        "size_mismatch",
        "unlisted_file",
    ]
    rejects = Path(report["rejects_file"]).read_text().splitlines()
    assert [json.loads(line)["code"] for line in rejects] == ["orphan_tag"] * 3
    with _mlflow_server(postgres_db, tmp_path) as url:
        versions = _versions(url)
    assert sorted(versions) == [
        ("binary_classifier", "1"),
        ("binary_classifier", "3"),
        ("linear_predictor", "1"),
        ("spare", "1"),
    ]
    assert versions[("spare", "1")].tags == {
        "kind": "linear",
        "old": "True",
        "fresh": "yes",
    }  # as the app reads it
    assert (
        versions[("binary_classifier", "3")].source == (root / "binary_classifier" / "v3").resolve().as_uri()
    )
    assert normalize_uri(postgres_db)
