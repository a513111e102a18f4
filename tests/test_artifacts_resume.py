"""A copy killed in the middle of its artifacts resumes: nothing missing, nothing doubled,
what was already there is skipped; ``verify --artifacts`` finds a corrupted object."""

from __future__ import annotations

import os
import signal
import subprocess
import time
import uuid
from pathlib import Path
from typing import Any

from cli_helpers import CLI, invoke, json_stdout, show, squash
from edge_store import mlflow_pointed_at as mlflow_at

SMALL_FILES = 400
BIG = 12 * 1024 * 1024  # streamed and uploaded in parts


def _many_artifacts(root: Path) -> Path:
    import mlflow

    files = root / "files"
    files.mkdir(parents=True)
    for index in range(SMALL_FILES):
        (files / f"f{index:05d}.bin").write_bytes(os.urandom(1024 + index))
    (files / "big.bin").write_bytes(os.urandom(BIG))
    mlruns = (root / "mlruns").resolve()
    with mlflow_at(mlruns.as_uri()):
        experiment_id = mlflow.create_experiment("many")
        with mlflow.start_run(experiment_id=experiment_id):
            mlflow.log_artifacts(str(files), artifact_path="data")
    return mlruns


def _count(client: Any, bucket: str) -> int:
    pages = client.get_paginator("list_objects_v2").paginate(Bucket=bucket)
    return sum(len(page.get("Contents", [])) for page in pages)


def test_killed_copy_resumes_and_verify_finds_corruption(
    s3_server: Any, tmp_path: Path, monkeypatch: Any
) -> None:
    for name, value in s3_server.env().items():
        monkeypatch.setenv(name, value)
    client = s3_server.client()
    bucket = f"r-{uuid.uuid4().hex[:8]}"
    client.create_bucket(Bucket=bucket)
    mlruns = _many_artifacts(tmp_path)
    db = f"sqlite:///{tmp_path / 'dst.db'}"
    args = ["copy", str(mlruns), db, "--artifacts-to", f"s3://{bucket}/root", "--json", "-q"]

    proc = subprocess.Popen(
        [*CLI, *args], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True
    )
    try:
        deadline = time.monotonic() + 120
        while _count(client, bucket) < 20 and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.02)
        assert proc.poll() is None, "the copy finished before it could be killed"
        os.killpg(proc.pid, signal.SIGKILL)
    finally:
        proc.wait(30)
    there_before = _count(client, bucket)
    assert 20 <= there_before < SMALL_FILES + 1

    resumed = invoke(*args)

    assert resumed.returncode == 0, show(resumed)
    run = json_stdout(resumed)["artifacts"]["kinds"]["run"]
    assert run["objects"] == SMALL_FILES + 1
    assert run["copied"] + run["skipped"] == SMALL_FILES + 1
    assert run["skipped"] >= there_before  # what was there is not copied again
    assert _count(client, bucket) == SMALL_FILES + 1  # nothing doubled or missing

    verified = invoke("verify", str(mlruns), db, "--artifacts", "--json")
    assert verified.returncode == 0, show(verified)

    prefix = next(
        item["Key"]
        for item in client.list_objects_v2(Bucket=bucket)["Contents"]
        if item["Key"].endswith("f00007.bin")
    )
    original = client.get_object(Bucket=bucket, Key=prefix)["Body"].read()
    client.put_object(Bucket=bucket, Key=prefix, Body=bytes(b ^ 0xFF for b in original))  # same size

    corrupted = invoke("verify", str(mlruns), db, "--artifacts")

    assert corrupted.returncode == 3, show(corrupted)
    assert "contenthashdiffers" in squash(corrupted.stderr), show(corrupted)
    assert "f00007.bin" in squash(corrupted.stderr)
