"""Faults and invariants across commands: sources are never changed, passwords never written,
and a copy SIGKILLed at random moments resumes to an exact copy."""

from __future__ import annotations

import hashlib
import json
import random
import signal
import sqlite3
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
from cli_helpers import CLI, count, json_stdout, query, run_cli, show, sqlite_uri

REPO = Path(__file__).resolve().parents[1]
GENERATOR = REPO / "benchmarks" / "generate_store.py"
#: passwords the suite puts in URIs (here and in test_rollback / test_check / test_config)
SUITE_PASSWORDS = ("rollback-secret", "hunter2", "file-secret", "reader-pw")


def tree_hash(root: Path) -> str:
    """Names, contents, modes and modification times of everything under ``root`` (or one file)."""
    digest = hashlib.sha256()
    paths = [root] if root.is_file() else sorted(root.rglob("*"))
    for path in paths:
        stat = path.stat()
        digest.update(
            f"{path.relative_to(root) if path != root else ''}|{stat.st_mode}|{stat.st_mtime_ns}".encode()
        )
        if path.is_file():
            digest.update(path.read_bytes())
    return digest.hexdigest()


def _unchanged(source: Path, *args: str, codes: tuple[int, ...] = (0,)) -> subprocess.CompletedProcess[str]:
    before = tree_hash(source)
    result = run_cli(*args)
    assert result.returncode in codes, show(result)
    assert tree_hash(source) == before, f"mlmigrate {' '.join(args[:1])} changed its source {source}"
    return result


def test_the_source_is_byte_identical_after_every_command(minimal_store: Path, tmp_path: Path) -> None:
    source = str(minimal_store)
    destination = sqlite_uri(tmp_path / "dst.db")
    store = minimal_store

    _unchanged(store, "plan", source)
    _unchanged(store, "check", source, destination)
    _unchanged(store, "copy", source, destination, "--dry-run")
    copied = _unchanged(
        store,
        "copy",
        source,
        destination,
        "--report",
        str(tmp_path / "r.html"),
        "--log-file",
        str(tmp_path / "l.log"),
        "--json",
    )
    migration = json_stdout(copied)["migration_id"]
    _unchanged(store, "verify", source, destination)
    _unchanged(store, "check", source, destination)  # the journal knows the copy: GO, nothing to do
    _unchanged(store, "status")
    _unchanged(store, "backup", source, str(tmp_path / "b1"))

    database = tmp_path / "dst.db"  # a SQLite database as the source
    _unchanged(database, "backup", destination, str(tmp_path / "b2"))
    _unchanged(database, "verify", destination, str(tmp_path / "b2"))
    backup = tmp_path / "b2"  # a backup as the source
    _unchanged(backup, "restore", str(backup), sqlite_uri(tmp_path / "restored.db"))
    _unchanged(backup, "copy", str(backup), f"backup://{tmp_path / 'b3'}")
    _unchanged(store, "rollback", migration)
    assert count(destination, "runs") == 0


def _outputs(folder: Path) -> list[Path]:
    """Files mlmigrate writes: journals, id maps, manifests, reports and logs."""
    names = ("journal.sqlite", "manifest.json")
    suffixes = (".html", ".log", ".jsonl", "-ids.json")
    return [
        path
        for path in folder.rglob("*")
        if path.is_file()
        and (path.name.startswith(names) or path.name.endswith(suffixes) or "report" in path.name)
    ]


def test_no_password_is_written_to_any_output_log_or_report(
    minimal_store: Path, postgres_server_handle: object, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    password = f"pw-{uuid.uuid4().hex[:12]}"
    server = postgres_server_handle
    databases = [server.create_database() for _ in range(2)]  # type: ignore[attr-defined]
    first, second = (url.replace("postgres@", f"postgres:{password}@") for url in databases)
    monkeypatch.setenv("MLMIGRATE_STATE_DIR", str(tmp_path / "state"))
    source = str(minimal_store)
    reports = ["--report", str(tmp_path / "report.html"), "--report", str(tmp_path / "report.json")]
    runs = [
        run_cli("check", source, first, "--json"),
        run_cli("copy", source, first, *reports, "--log-file", str(tmp_path / "copy.log"), "--json"),
        run_cli("verify", source, first, "--json"),
        run_cli("status", "--json"),
        run_cli("backup", first, str(tmp_path / "backup"), "--log-file", str(tmp_path / "backup.log")),
        run_cli(
            "restore", str(tmp_path / "backup"), second, "--report", str(tmp_path / "restore-report.json")
        ),
        run_cli("rollback", "--last", second, "--json"),
        run_cli(
            "copy", source, first.rsplit(":", 1)[0] + ":1/nowhere", "--log-file", str(tmp_path / "bad.log")
        ),
        run_cli("check", source, first.replace(databases[0].rsplit("/", 1)[1], "no_such_db")),
    ]
    monkeypatch.setenv("MLMIGRATE_DESTINATION", second)
    runs.append(run_cli("config", "show"))
    for result in runs[1:3]:
        assert result.returncode == 0, show(result)
    status = json_stdout(runs[3])
    runs.append(run_cli("status", status[0]["migration_id"], "--json"))

    leaks = [show(result) for result in runs if password in result.stdout + result.stderr]
    assert leaks == []
    files = _outputs(tmp_path)
    assert {p.name for p in files} >= {"journal.sqlite", "manifest.json", "report.html", "copy.log"}
    for path in files:
        assert password.encode() not in path.read_bytes(), path
    for url in databases:
        server.drop_database(url)  # type: ignore[attr-defined]


def test_no_test_password_is_in_any_file_the_suite_wrote(tmp_path_factory: pytest.TempPathFactory) -> None:
    """The other modules' runs with passwords (rollback, check, config) left their files under the
    session's base folder: none holds a password."""
    base = tmp_path_factory.getbasetemp()
    for path in _outputs(base):
        data = path.read_bytes()
        for password in SUITE_PASSWORDS:
            assert password.encode() not in data, f"{password} in {path}"


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("generated-faults") / "mlruns"
    subprocess.run(
        [
            sys.executable,
            str(GENERATOR),
            "--out",
            str(out),
            "--experiments",
            "10",
            "--runs",
            "8",
            "--metrics",
            "4",
            "--metric-points",
            "80",
            "--models",
            "3",
            "--seed",
            "21",
            "--no-validate",
        ],
        check=True,
        capture_output=True,
        timeout=120,
    )
    return out


def test_copy_sigkilled_at_random_moments_resumes_to_an_exact_copy(
    generated: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    state = tmp_path / "state"
    monkeypatch.setenv("MLMIGRATE_STATE_DIR", str(state))
    destination = sqlite_uri(tmp_path / "dst.db")
    before = tree_hash(generated)
    chance = random.Random(20261130)
    # how long a whole copy takes on this machine, so that every kill lands within it
    started = time.monotonic()
    whole = run_cli(
        "copy", str(generated), sqlite_uri(tmp_path / "timing.db"), "-q", "--state-dir", str(tmp_path / "t")
    )
    assert whole.returncode == 0, show(whole)
    duration = time.monotonic() - started
    kills = 0
    for _ in range(4):
        process = subprocess.Popen(
            [*CLI, "copy", str(generated), destination, "-q"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        try:
            process.wait(timeout=chance.uniform(0.15, 0.6) * duration)
        except subprocess.TimeoutExpired:
            process.send_signal(signal.SIGKILL)
            process.wait()
            kills += 1
        else:
            break
    assert kills >= 1, "at least one kill must land mid-copy"

    resumed = run_cli("copy", str(generated), destination, "--json", "-q")

    assert resumed.returncode == 0, show(resumed)
    verified = run_cli("verify", str(generated), destination)
    assert verified.returncode == 0, show(verified)
    connection = sqlite3.connect(state / "journal.sqlite")
    try:
        states = dict(connection.execute("SELECT state, count(*) FROM units GROUP BY state").fetchall())
    finally:
        connection.close()
    planned = json_stdout(run_cli("plan", str(generated), "--json"))
    assert states == {"done": sum(planned["units"].values())}
    for table, key in (
        ("metrics", "key, value, timestamp, run_uuid, step, is_nan"),
        ("params", "key, run_uuid"),
    ):
        distinct = query(destination, f"SELECT count(*) FROM (SELECT DISTINCT {key} FROM {table}) AS d")[0][0]
        assert distinct == count(destination, table), table
    assert count(destination, "runs") == planned["tables"]["runs"]
    assert tree_hash(generated) == before
    assert json.loads(resumed.stdout)["status"] in ("done", "up-to-date")
