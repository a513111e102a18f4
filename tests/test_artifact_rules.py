"""Artifact keys are validated, URIs rewritten by prefix rules, credentials masked."""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest
from cli_helpers import invoke, show

import mlmigrate
from mlmigrate.artifacts.locations import UnsafeKeyError, parse, safe_key
from mlmigrate.artifacts.phase import build_rules, plan_prefixes
from mlmigrate.artifacts.rewrite import Rule, UriRewrite, parse_rule
from mlmigrate.exceptions import UsageError


@pytest.mark.parametrize(
    "key",
    ["../x", "a/../../b", "a/..", "/etc/passwd", "\\\\server\\share", "C:/x", "a\x00b", "a\\..\\b"],
)
def test_unsafe_keys_are_refused(key: str) -> None:
    with pytest.raises(UnsafeKeyError):
        safe_key(key)


@pytest.mark.parametrize("key", ["a", "a/b/c.txt", "..a/b..", "a/.../b", "ü n i/c o d e", ""])
def test_safe_keys_pass(key: str) -> None:
    assert safe_key(key) == key


def test_locations() -> None:
    assert parse("s3://bucket/a/b/").prefix == "a/b"
    assert parse("gs://bucket").prefix == ""
    azure = parse("wasbs://box@acct.blob.core.windows.net/p/q")
    assert (azure.service, azure.container, azure.account, azure.prefix) == ("azure", "box", "acct", "p/q")
    with pytest.raises(UnsafeKeyError):
        parse("file:///data/mlruns/1/../../../etc")
    with pytest.raises(UnsafeKeyError):
        parse("s3://bucket/a/../b")
    with pytest.raises(UsageError, match="unsupported scheme"):
        parse("mlflow-artifacts:/1/abc")


def test_rewrite_is_a_longest_prefix_arrow_transform() -> None:
    rewrite = UriRewrite(
        (
            Rule("file:///data/mlruns", "s3://b/root", copy=True),
            Rule("file:///data/mlruns/7", "s3://b/seven", copy=True),
            parse_rule("s3://old/=gs://new/p/"),
        )
    )
    values = pa.array(
        [
            "file:///data/mlruns/1/r/artifacts",
            "file:///data/mlruns/7/r/artifacts",
            "file:///data/mlruns",
            "file:///data/mlruns2/x",  # not below the rule's folder
            "s3://old/a",
            "models:/m-1",
            None,
        ]
    )
    assert rewrite.array(values).to_pylist() == [
        "s3://b/root/1/r/artifacts",
        "s3://b/seven/r/artifacts",
        "s3://b/root",
        "file:///data/mlruns2/x",
        "gs://new/p/a",
        "models:/m-1",
        None,
    ]
    assert UriRewrite.from_json(rewrite.as_json()) == rewrite


def test_only_the_trace_artifact_tag_is_rewritten() -> None:
    rewrite = UriRewrite((Rule("file:///m", "s3://b"),))
    batch = pa.RecordBatch.from_pydict(
        {
            "key": ["mlflow.artifactLocation", "note"],
            "value": ["file:///m/1/traces/t/artifacts", "file:///m/1"],
            "request_id": ["t", "t"],
        }
    )
    assert rewrite.batch("trace_tags", batch).column("value").to_pylist() == [
        "s3://b/1/traces/t/artifacts",
        "file:///m/1",
    ]


def test_rules_and_prefixes() -> None:
    rules = build_rules(
        artifacts_to="s3://b/root/",
        rewrites=["file:///elsewhere=s3://moved"],
        experiments=[("1", "file:///data/mlruns/1"), ("2", "file:///elsewhere/2")],
        store_root="file:///data/mlruns",
    )
    assert rules.apply("/data/mlruns/1/r/artifacts") == "s3://b/root/1/r/artifacts"  # bare path spelling
    assert rules.apply("file:///elsewhere/2/r") == "s3://moved/2/r"  # --rewrite wins, and moves no bytes
    prefixes, kept = plan_prefixes(
        [
            ("run", "file:///data/mlruns/1/r/artifacts"),
            ("model_version", "file:///data/mlruns/1/r/artifacts/model"),  # inside the run's
            ("logged_model", "file:///data/mlruns/1/models/m/artifacts"),
            ("run", "file:///elsewhere/2/r/artifacts"),
        ],
        rules,
    )
    assert [(p.kind, p.destination_uri) for p in prefixes] == [
        ("logged_model", "s3://b/root/1/models/m/artifacts"),
        ("run", "s3://b/root/1/r/artifacts"),
    ]
    assert kept == {"run": 1}
    with pytest.raises(UnsafeKeyError):
        plan_prefixes([("run", "file:///data/mlruns/1/../../../etc")], rules)


def test_a_source_location_climbing_out_is_refused(minimal_store: Path, tmp_path: Path) -> None:
    meta = next(p for p in minimal_store.rglob("meta.yaml") if "artifact_uri" in p.read_text())
    text = meta.read_text()
    line = next(line for line in text.splitlines() if line.startswith("artifact_uri:"))
    meta.write_text(text.replace(line, line.rstrip() + "/../../../../../../etc"))
    root = tmp_path / "root"

    with pytest.raises(UnsafeKeyError, match=r"'\.\.'"):
        mlmigrate.copy(
            str(minimal_store),
            f"sqlite:///{tmp_path / 'x.db'}",
            artifacts_to=str(root),
            read_in_processes=False,
        )
    assert not (tmp_path / "etc").exists()


def test_options_are_checked(minimal_store: Path, tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 'x.db'}"
    with pytest.raises(UsageError, match="needs --artifacts-to"):
        mlmigrate.copy(str(minimal_store), db, artifacts="copy")
    with pytest.raises(UsageError, match="keep"):
        mlmigrate.copy(str(minimal_store), db, artifacts="keep", artifacts_to="s3://b/x")
    with pytest.raises(UsageError, match="OLD=NEW"):
        mlmigrate.copy(str(minimal_store), db, rewrite=["no-equals-sign"])


def test_rewrite_only_changes_metadata_and_verify_still_passes(minimal_store: Path, tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 'x.db'}"
    old = minimal_store.resolve().as_uri()

    report = mlmigrate.copy(str(minimal_store), db, rewrite=[f"{old}=s3://by-hand/mlruns"])

    assert report.status == "done" and report.artifacts is None
    import sqlite3

    connection = sqlite3.connect(tmp_path / "x.db")
    uris = [row[0] for row in connection.execute("SELECT artifact_uri FROM runs")]
    connection.close()
    assert uris and all(uri.startswith("s3://by-hand/mlruns/") for uri in uris)
    assert mlmigrate.verify(str(minimal_store), db).ok  # the same rules are applied to the source side
    changed = invoke("copy", str(minimal_store), db, "--rewrite", f"{old}=s3://other")
    assert changed.returncode == 2 and "other artifact options" in changed.stderr, show(changed)


def test_secrets_stay_out_of_errors_and_reports(
    artifact_store: dict[str, Any], s3_server: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    secret = f"SECRET{uuid.uuid4().hex}"
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "someone")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", secret)
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    endpoint = s3_server.endpoint.replace("http://", f"http://user:{secret}@")
    db = f"sqlite:///{tmp_path / 'x.db'}"

    result = invoke(
        "copy",
        str(artifact_store["mlruns"]),
        db,
        "--artifacts-to",
        "s3://nowhere/x",
        "--s3-endpoint",
        endpoint,
        "--json",
    )

    assert result.returncode == 1, show(result)
    assert secret not in result.stdout + result.stderr
    status = invoke("status", "--json")
    assert secret not in status.stdout + status.stderr


def test_plan_counts_artifacts_per_kind(artifact_store: dict[str, Any]) -> None:
    mlruns: Path = artifact_store["mlruns"]
    result = invoke("plan", str(mlruns), "--json")

    assert result.returncode == 0, show(result)
    artifacts = json.loads(result.stdout)["artifacts"]
    run_folder = mlruns / artifact_store["experiment_id"] / artifact_store["run_id"] / "artifacts"
    run_files = [p for p in run_folder.rglob("*") if p.is_file()]
    assert artifacts["run"] == {"objects": len(run_files), "bytes": sum(p.stat().st_size for p in run_files)}
    assert artifacts["trace"]["objects"] == 1
    assert artifacts["logged_model"]["objects"] >= 4
    assert "model_version" not in artifacts  # stored inside its logged model's folder: counted there
