"""Backups: Parquet per table + manifest, restore into SQLite and PostgreSQL, damage refused,
disk full leaves no backup that looks whole, a backup is a store of its own."""

from __future__ import annotations

import contextlib
import json
import os
import resource
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from cli_helpers import CLI, count, invoke, json_stdout, show, sqlite_uri
from contract.kinds import tolerances
from mlflow_compare import compare_stores

from mlmigrate.tables import TABLES

REPO = Path(__file__).resolve().parents[1]
GENERATOR = REPO / "benchmarks" / "generate_store.py"


@pytest.fixture(scope="module")
def backed_up_edge(edge_store: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A finished backup of the edge-case store (read-only for the tests)."""
    folder = tmp_path_factory.mktemp("edge-backup") / "backup"
    state = tmp_path_factory.mktemp("edge-backup-state")
    result = subprocess.run(
        [*CLI, "backup", str(edge_store), str(folder), "-q", "--state-dir", str(state)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, show(result)
    return folder


def test_backup_is_one_parquet_file_per_table_and_a_manifest(backed_up_edge: Path, edge_store: Path) -> None:
    manifest = json.loads((backed_up_edge / "manifest.json").read_text())
    names = sorted(p.name for p in backed_up_edge.iterdir())

    assert names == sorted([*(f"{t}.parquet" for t in TABLES), "manifest.json"])
    assert manifest["tool"]["name"] == "mlmigrate" and manifest["tool"]["version"]
    assert manifest["source"] == str(edge_store)
    assert manifest["created"].endswith("Z")
    assert manifest["schema_revision"] is None  # a FileStore has no schema revision
    plan = json_stdout(invoke("plan", str(edge_store), "--json"))
    for table, entry in manifest["tables"].items():
        assert entry["file"] == f"{table}.parquet"
        assert entry["rows"] == plan["tables"].get(table, 0) - (1 if table == "metrics" else 0), table
        assert len(entry["digest"]) == 16


def test_backup_files_are_read_by_pandas_and_pyarrow_without_mlmigrate(backed_up_edge: Path) -> None:
    """Read in a fresh interpreter that never imports mlmigrate: plain Parquet, MLflow's columns."""
    script = (
        "import json, sys, pandas, pyarrow.parquet as pq\n"
        "folder = sys.argv[1]\n"
        "runs = pandas.read_parquet(folder + '/runs.parquet')\n"
        "metrics = pq.read_table(folder + '/metrics.parquet')\n"
        "assert 'mlmigrate' not in sys.modules\n"
        "print(json.dumps({'runs': len(runs), 'run_columns': list(runs.columns),\n"
        "  'metrics': metrics.num_rows, 'nan': int(metrics.column('is_nan').to_pandas().sum())}))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script, str(backed_up_edge)], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, show(result)
    data = json.loads(result.stdout)
    manifest = json.loads((backed_up_edge / "manifest.json").read_text())

    assert data["runs"] == manifest["tables"]["runs"]["rows"] > 0
    assert data["run_columns"] == TABLES["runs"].columns
    assert data["metrics"] == manifest["tables"]["metrics"]["rows"]
    assert data["nan"] >= 1  # the edge store's NaN point kept the SQL convention


def test_restore_into_sqlite_equals_the_original_store(
    backed_up_edge: Path, edge_store: Path, tmp_path: Path
) -> None:
    destination = sqlite_uri(tmp_path / "restored.db")

    restored = invoke("restore", str(backed_up_edge), destination, "--json", "-q")

    assert restored.returncode == 0, show(restored)
    assert json_stdout(restored)["verify"]["ok"] is True
    verified = invoke("verify", str(edge_store), destination)
    assert verified.returncode == 0, show(verified)
    # what MLflow reads from the restored database is what it reads from the original FileStore
    tolerate = tolerances(f"backup://{backed_up_edge}", destination)
    assert compare_stores(edge_store.as_uri(), destination, tolerate=tolerate) == []


def test_a_backup_is_a_store_for_verify_and_copy(
    backed_up_edge: Path, edge_store: Path, tmp_path: Path
) -> None:
    assert invoke("verify", str(edge_store), str(backed_up_edge)).returncode == 0
    assert invoke("verify", str(backed_up_edge), f"backup://{backed_up_edge}").returncode == 0
    second = tmp_path / "second"
    copied = invoke("copy", f"backup://{backed_up_edge}", f"backup://{second}", "-q")
    assert copied.returncode == 0, show(copied)
    first = json.loads((backed_up_edge / "manifest.json").read_text())["tables"]
    assert json.loads((second / "manifest.json").read_text())["tables"] == first


def test_backup_of_postgresql_is_one_snapshot_and_restores_there(
    minimal_store: Path, postgres_db: str, tmp_path: Path
) -> None:
    assert invoke("copy", str(minimal_store), postgres_db, "-q").returncode == 0
    folder = tmp_path / "pg-backup"

    backed_up = invoke("backup", postgres_db, str(folder), "-q")

    assert backed_up.returncode == 0, show(backed_up)
    manifest = json.loads((folder / "manifest.json").read_text())
    assert manifest["consistent_snapshot"] is True
    assert manifest["schema_revision"]  # alembic revision of the database
    assert manifest["tables"]["runs"]["rows"] == 2
    restored_db = tmp_path / "back.db"
    restored = invoke("restore", str(folder), sqlite_uri(restored_db), "-q")
    assert restored.returncode == 0, show(restored)
    assert compare_stores(postgres_db, sqlite_uri(restored_db), tolerate=frozenset()) == []


def _copy_tree(source: Path, target: Path) -> None:
    import shutil

    shutil.copytree(source, target)


def test_restore_refuses_a_file_whose_bytes_were_damaged(backed_up_edge: Path, tmp_path: Path) -> None:
    damaged = tmp_path / "damaged"
    _copy_tree(backed_up_edge, damaged)
    path = damaged / "params.parquet"
    data = bytearray(path.read_bytes())
    middle = len(data) // 2
    data[middle : middle + 8] = bytes(b ^ 0xFF for b in data[middle : middle + 8])
    path.write_bytes(bytes(data))
    destination = tmp_path / "never.db"

    result = invoke("restore", str(damaged), sqlite_uri(destination))

    assert result.returncode == 1, show(result)
    assert "damaged backup" in result.stderr and "params.parquet" in result.stderr, show(result)
    assert not destination.exists()


def test_restore_refuses_a_file_whose_rows_were_changed(backed_up_edge: Path, tmp_path: Path) -> None:
    """A valid Parquet file with one value changed (as an editor would leave it): the digest catches it."""
    damaged = tmp_path / "edited"
    _copy_tree(backed_up_edge, damaged)
    path = damaged / "tags.parquet"
    table = pq.read_table(path)
    values = table.column("value").to_pylist()
    values[0] = (values[0] or "") + " (edited)"
    table = table.set_column(table.schema.get_field_index("value"), "value", pa.array(values, pa.string()))
    pq.write_table(table, path)

    result = invoke("restore", str(damaged), sqlite_uri(tmp_path / "never.db"))

    assert result.returncode == 1, show(result)
    assert "tags.parquet" in result.stderr and "digest" in result.stderr, show(result)


def test_copy_backup_dest_snapshots_the_destination_first(
    minimal_store: Path, edge_store: Path, tmp_path: Path
) -> None:
    destination = sqlite_uri(tmp_path / "dst.db")
    assert invoke("copy", str(minimal_store), destination, "-q").returncode == 0
    before = count(destination, "runs")
    folder = tmp_path / "pre"

    copied = invoke("copy", str(edge_store), destination, "--backup-dest", str(folder), "-q")

    assert copied.returncode == 0, show(copied)
    manifest = json.loads((folder / "manifest.json").read_text())
    assert manifest["tables"]["runs"]["rows"] == before == 2
    assert count(destination, "runs") > before
    restored = sqlite_uri(tmp_path / "as-before.db")
    assert invoke("restore", str(folder), restored, "-q").returncode == 0
    assert count(restored, "runs") == before


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("generated-backup") / "mlruns"
    subprocess.run(
        [
            sys.executable,
            str(GENERATOR),
            "--out",
            str(out),
            "--experiments",
            "6",
            "--runs",
            "10",
            "--metrics",
            "4",
            "--metric-points",
            "200",
            "--models",
            "2",
            "--seed",
            "5",
            "--no-validate",
        ],
        check=True,
        capture_output=True,
        timeout=120,
    )
    return out


@contextlib.contextmanager
def _small_disk(folder: Path, size: str) -> Iterator[dict[str, object]]:
    """A really full disk: a tmpfs of ``size`` mounted at ``folder`` (as root); where mounting is
    not allowed, the file size limit of the process (RLIMIT_FSIZE) makes writes fail the same way."""
    folder.mkdir(parents=True)
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(folder)], capture_output=True, check=False
    )
    if mounted.returncode == 0:
        try:
            yield {}
        finally:
            subprocess.run(["umount", "-l", str(folder)], check=False)
        return
    limit = 128 * 1024  # above the journal's size, below the merged metrics file's

    def limit_file_size() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    yield {"preexec_fn": limit_file_size}


def test_disk_full_during_backup_is_a_clear_error_and_no_backup_looks_whole(
    generated: Path, tmp_path: Path
) -> None:
    disk = tmp_path / "disk"
    with _small_disk(disk, "96k") as limits:
        folder = disk / "backup"
        result = subprocess.run(
            [*CLI, "backup", str(generated), str(folder)],
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
            **limits,  # type: ignore[arg-type]
        )
        assert result.returncode == 1, show(result)
        assert "no space left" in result.stderr, show(result)
        assert "Traceback" not in result.stderr
        assert not (folder / "manifest.json").exists()
        leftovers = [p.name for p in folder.iterdir()] if folder.exists() else []
        assert not [name for name in leftovers if name.endswith(".parquet")], leftovers
        # and the restore of such a folder is refused
        refused = invoke("restore", str(folder), sqlite_uri(tmp_path / "x.db"))
        assert refused.returncode == 2, show(refused)
        assert "no finished backup" in refused.stderr, show(refused)


def test_interrupted_backup_resumes_to_a_whole_backup(generated: Path, tmp_path: Path) -> None:
    folder = tmp_path / "backup"
    process = subprocess.Popen(
        [*CLI, "backup", str(generated), str(folder), "-q"], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    parts = folder / ".parts"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and process.poll() is None:
        if parts.is_dir() and sum(1 for p in parts.iterdir() if not p.name.startswith(".")) >= 2:
            break
        time.sleep(0.01)
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    assert not (folder / "manifest.json").exists()

    resumed = invoke("backup", str(generated), str(folder), "-q")

    assert resumed.returncode == 0, show(resumed)
    assert not parts.exists()
    assert invoke("verify", str(generated), str(folder)).returncode == 0
    again = invoke("backup", str(generated), str(folder))
    assert again.returncode == 0 and "already holds the finished backup" in again.stderr, show(again)


#: Runs the CLI, but SIGKILLs it when ``sys.argv[1]`` (a module attribute) is called.
_KILL_AT = """
import os, signal, sys
import mlmigrate.stores.backup.store as store

def die(*args, **kwargs):
    os.kill(os.getpid(), signal.SIGKILL)

setattr(store, sys.argv[1], die)
from mlmigrate.cli import main
sys.argv = ["mlmigrate", *sys.argv[2:]]
main()
"""


def test_backup_killed_before_its_manifest_is_not_whole_and_resumes(
    minimal_store: Path, tmp_path: Path
) -> None:
    """Killed after the table files are in place, before the manifest: not a backup yet; the same
    command then finishes it."""
    folder = tmp_path / "backup"
    killed = subprocess.run(
        [sys.executable, "-c", _KILL_AT, "write_manifest", "backup", str(minimal_store), str(folder), "-q"],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert killed.returncode == -signal.SIGKILL, show(killed)
    assert (folder / "runs.parquet").exists() and not (folder / "manifest.json").exists()
    refused = invoke("restore", str(folder), sqlite_uri(tmp_path / "x.db"))
    assert refused.returncode == 2 and "no finished backup" in refused.stderr, show(refused)

    resumed = invoke("backup", str(minimal_store), str(folder), "-q")

    assert resumed.returncode == 0, show(resumed)
    assert (folder / "manifest.json").exists() and not (folder / ".parts").exists()
    assert invoke("verify", str(minimal_store), str(folder)).returncode == 0
