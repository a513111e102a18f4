"""``copy --executor ray`` on a three-node Ray cluster of this machine: the edge store into
PostgreSQL as MLflow wrote it, a worker killed mid-unit, a driver killed after a commit, the
artifact objects copied by the workers, and the password never in Ray's logs."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cli_helpers import CLI, invoke, show
from contract.kinds import tolerances
from kill_helpers import copy_killed_after_commit
from mlflow_compare import compare_stores
from ray_cluster import PASSWORD, RayCluster, database_with_password, environment_for, start_ray_cluster
from servers import session_server

import mlmigrate


@pytest.fixture(scope="session")
def ray_cluster() -> Iterator[RayCluster]:
    """Three nodes, one CPU each, joined by this process."""
    yield from session_server(start_ray_cluster, "Ray cluster")


@pytest.fixture
def guarded_db(postgres_server_handle: Any) -> Iterator[str]:
    """A fresh PostgreSQL database whose URL holds the test password."""
    yield from database_with_password(postgres_server_handle)


def _nothing_of_ray_shows_the_password(cluster: RayCluster) -> None:
    """No file of the cluster's session folder (its logs) and nothing the dashboard shows of its
    tasks and jobs (their arguments' places, runtime envs, entrypoints) holds the password."""
    from ray.util.state import list_jobs, list_tasks

    assert cluster.logs_holding(PASSWORD) == []
    tasks = list_tasks(cluster.dashboard, detail=True, limit=10000, raise_on_missing_output=False)
    assert PASSWORD not in repr(tasks) + repr(list_jobs(cluster.dashboard, detail=True))


def _equal_to_the_edge_store(edge_store: Path, destination: str) -> None:
    assert compare_stores(edge_store.as_uri(), destination, tolerate=tolerances(destination)) == []


def test_the_edge_store_copied_on_the_cluster_reads_as_mlflow_wrote_it(
    ray_cluster: RayCluster, edge_store: Path, guarded_db: str, tmp_path: Path
) -> None:
    state = str(tmp_path / "state")

    ran = invoke("copy", str(edge_store), guarded_db, "--executor", "ray", "--state-dir", state, "--json")

    assert ran.returncode == 0, show(ran)
    report = json.loads(ran.stdout)
    assert report["status"] == "done" and report["verify"]["ok"], report["verify"]
    assert report["options"]["executor"].startswith("ray (connected: 3 node(s), 3 CPU(s))")
    nodes = report["nodes"]
    assert sum(entry["units"] for entry in nodes.values()) == report["units"]["this_run"] > 0
    assert sum(entry["rows"] for entry in nodes.values()) == report["rows_written"]
    _equal_to_the_edge_store(edge_store, guarded_db)
    shown = invoke("status", report["migration_id"], "--state-dir", state, "--json")
    units = json.loads(shown.stdout)
    assert {unit["node"] for unit in units if unit["state"] == "done"} <= set(nodes)
    assert all(unit["node"] for unit in units if unit["state"] == "done")
    table = invoke("status", report["migration_id"], "--state-dir", state)
    assert next(iter(nodes)).split("/")[1] in table.stdout  # the node column of the table
    assert PASSWORD not in ran.stdout + ran.stderr + shown.stdout
    _nothing_of_ray_shows_the_password(ray_cluster)


def _running_unit_task(cluster: RayCluster, deadline: float) -> Any:
    """A unit task some worker is running (Ray's state API), or None by ``deadline``."""
    from ray.util.state import list_tasks

    while time.monotonic() < deadline:
        for task in list_tasks(
            filters=[("state", "=", "RUNNING")], limit=1000, raise_on_missing_output=False
        ):
            if (task.name or "").startswith("mlmigrate unit") and task.worker_pid:
                return task
        time.sleep(0.2)
    return None


def test_a_worker_killed_mid_unit_is_run_again_by_ray_without_doubles(
    ray_cluster: RayCluster, edge_store: Path, guarded_db: str, tmp_path: Path
) -> None:
    from ray.util.state import list_tasks

    driver = subprocess.Popen(
        [*CLI, "copy", str(edge_store), guarded_db, "--executor", "ray"]
        + ["--state-dir", str(tmp_path / "state"), "--json"],
        env=environment_for(ray_cluster),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        task = _running_unit_task(ray_cluster, time.monotonic() + 120)
        assert task is not None, "no unit task was seen running"
        os.kill(task.worker_pid, signal.SIGKILL)  # a fresh worker: opening the pair takes a while
        out, err = driver.communicate(timeout=240)
    finally:
        if driver.poll() is None:
            driver.kill()
    assert driver.returncode == 0 and out.strip(), err[-3000:]
    assert out.lstrip().startswith("{"), out[:2000]
    report = json.loads(out)
    assert report["verify"]["ok"], report["verify"]
    _equal_to_the_edge_store(edge_store, guarded_db)
    attempts = list_tasks(
        ray_cluster.dashboard, filters=[("name", "=", task.name)], limit=100, raise_on_missing_output=False
    )
    assert max(attempt.attempt_number for attempt in attempts) >= 1  # Ray ran it again
    _nothing_of_ray_shows_the_password(ray_cluster)


def test_a_driver_killed_after_a_commit_resumes_with_the_same_command(
    ray_cluster: RayCluster,
    edge_store: Path,
    guarded_db: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("RAY_ADDRESS", ray_cluster.address)
    args = (str(edge_store), guarded_db, "--executor", "ray", "--state-dir", str(tmp_path / "state"))
    copy_killed_after_commit(*args, nth=2)  # the second unit committed, the journal not told

    ran = invoke("copy", *args, "--json")

    assert ran.returncode == 0, show(ran)
    report = json.loads(ran.stdout)
    assert report["status"] == "done" and report["verify"]["ok"], report["verify"]
    assert 0 < report["units"]["this_run"] < report["units"]["total"]  # the first was kept
    _equal_to_the_edge_store(edge_store, guarded_db)
    _nothing_of_ray_shows_the_password(ray_cluster)  # the killed driver's command line held it


def test_artifact_objects_are_copied_by_the_workers(
    ray_cluster: RayCluster,
    artifact_store: dict[str, Any],
    s3_server: Any,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name, value in s3_server.env().items():
        monkeypatch.setenv(name, value)
    bucket = f"b-{uuid.uuid4().hex[:8]}"
    s3_server.client().create_bucket(Bucket=bucket)
    db = f"sqlite:///{tmp_path / 'dst.db'}"

    report = mlmigrate.copy(
        str(artifact_store["mlruns"]), db, artifacts_to=f"s3://{bucket}/mlflow", executor="ray"
    ).as_dict()

    assert report["status"] == "done", report
    objects = sum(kind["objects"] for kind in report["artifacts"]["kinds"].values())
    assert sum(node["objects"] for node in report["artifacts"]["nodes"].values()) == objects > 0
    checked = mlmigrate.verify(str(artifact_store["mlruns"]), db, artifacts=True)
    assert checked.ok, checked.mismatches


def test_an_unknown_executor_is_refused_before_anything_is_opened(tmp_path: Path) -> None:
    ran = invoke("copy", str(tmp_path / "none"), f"sqlite:///{tmp_path / 'x.db'}", "--executor", "spark")

    assert ran.returncode == 2, show(ran)
    assert "--executor 'spark' is not valid" in ran.stderr


def test_a_tree_copy_hands_its_objects_to_the_workers(ray_cluster: RayCluster, tmp_path: Path) -> None:
    source = tmp_path / "source"
    for index in range(70):  # three batches of objects
        (source / f"part-{index % 3}").mkdir(parents=True, exist_ok=True)
        (source / f"part-{index % 3}" / f"{index}.bin").write_bytes(os.urandom(100 + index))
    state = str(tmp_path / "state")

    ran = invoke(
        "copy",
        f"tree://{source}",
        f"tree://{tmp_path / 'copy'}",
        "--executor",
        "ray",
        "--state-dir",
        state,
        "--json",
    )

    assert ran.returncode == 0, show(ran)
    report = json.loads(ran.stdout)
    assert report["verify"]["ok"] and report["copied"] == 70, report
    assert sum(node["objects"] for node in report["nodes"].values()) == 70
    copied = {p.relative_to(tmp_path / "copy"): p.read_bytes() for p in (tmp_path / "copy").rglob("*.bin")}
    assert copied == {p.relative_to(source): p.read_bytes() for p in source.rglob("*.bin")}


def test_plain_tables_are_units_of_the_workers_too(ray_cluster: RayCluster, tmp_path: Path) -> None:
    import sqlite3

    source = tmp_path / "app.db"
    with sqlite3.connect(source) as connection:
        connection.execute("CREATE TABLE readings (id INTEGER PRIMARY KEY, name TEXT, value REAL)")
        connection.executemany(
            "INSERT INTO readings VALUES (?, ?, ?)", [(i, f"r{i}", i / 7) for i in range(500)]
        )
        connection.execute("CREATE TABLE sites (code TEXT PRIMARY KEY)")
        connection.executemany("INSERT INTO sites VALUES (?)", [("a",), ("b",)])

    report = mlmigrate.copy(
        f"sqlite:///{source}", f"sqlite:///{tmp_path / 'copy.db'}", executor="ray", state_dir=tmp_path / "s"
    ).as_dict()

    assert report["status"] == "done" and report["verify"]["ok"], report
    assert sum(node["rows"] for node in report["nodes"].values()) == 502
    with sqlite3.connect(tmp_path / "copy.db") as connection:
        rows = connection.execute("SELECT id, name, value FROM readings ORDER BY id").fetchall()
    assert rows == [(i, f"r{i}", i / 7) for i in range(500)]


def test_a_malformed_run_met_by_a_worker_is_left_out_with_on_error_skip(
    ray_cluster: RayCluster, minimal_store: Path, tmp_path: Path
) -> None:
    import sqlite3

    experiment = next(p for p in sorted(minimal_store.iterdir()) if p.name.isdigit() and p.name != "0")
    run = next(p for p in sorted(experiment.iterdir()) if (p / "meta.yaml").is_file())
    (run / "meta.yaml").write_text("run_id: [unclosed\n")
    db = tmp_path / "dst.db"

    ran = invoke(
        "copy", str(minimal_store), f"sqlite:///{db}", "--executor", "ray", "--on-error", "skip", "--json"
    )

    assert ran.returncode == 4, show(ran)  # finished, the malformed run left out
    [rejected] = json.loads(ran.stdout)["rejected_runs"]
    assert rejected["run"] == run.name and str(run / "meta.yaml") in rejected["error"]
    with sqlite3.connect(db) as connection:
        assert connection.execute("SELECT COUNT(*) FROM runs").fetchone() == (1,)  # the other run
