"""A dead helper process ends the copy within seconds, with a clear error, and the copy resumes.

A reader killed half-way through sending a batch used to leave the writer waiting forever
for the rest of the message (the parent held the pipe's other write end, so the pipe never
ended): the copy sat at 0% CPU with no output.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from cli_helpers import sqlite_uri

import mlmigrate
from mlmigrate.events import Event
from mlmigrate.exceptions import MigrationError

REPO = Path(__file__).resolve().parents[1]
GENERATOR = REPO / "benchmarks" / "generate_store.py"


@pytest.fixture(scope="module")
def big_batches(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A FileStore whose experiments each send metric batches far larger than a pipe holds."""
    out = tmp_path_factory.mktemp("big") / "mlruns"
    subprocess.run(
        [
            sys.executable,
            str(GENERATOR),
            *("--out", str(out), "--experiments", "3", "--runs", "4", "--metrics", "4"),
            *("--metric-points", "5000", "--models", "0", "--traces", "0", "--no-validate"),
        ],
        check=True,
        capture_output=True,
    )
    return out


def _readers() -> list[Any]:
    return [p for p in multiprocessing.active_children() if p.name == "mlmigrate-reader"]


def _copy_in_thread(source: Path, destination: str, listener: Any) -> dict[str, Any]:
    outcome: dict[str, Any] = {}

    def run() -> None:
        try:
            outcome["report"] = mlmigrate.copy(str(source), destination, workers=1, listener=listener)
        except BaseException as exc:  # noqa: BLE001 - the test inspects it
            outcome["error"] = exc

    thread = threading.Thread(target=run, daemon=True)  # a hung copy must not hang pytest's exit
    thread.start()
    thread.join(timeout=90)
    outcome["finished"] = not thread.is_alive()
    return outcome


def test_a_reader_killed_mid_message_ends_the_copy_at_once_and_it_resumes(
    big_batches: Path, tmp_path: Path
) -> None:
    destination = sqlite_uri(tmp_path / "dst.db")
    killed: list[int] = []

    def stall_then_kill(event: Event) -> None:
        # the writer is stalled here, so the helper fills its pipe with part of its next batch
        if event.kind == "rows" and not killed:
            time.sleep(1.5)
            for reader in _readers():
                os.kill(reader.pid, signal.SIGKILL)
                killed.append(reader.pid)
            time.sleep(0.5)

    started = time.monotonic()
    outcome = _copy_in_thread(big_batches, destination, stall_then_kill)
    assert killed, "no reader process was found to kill"
    assert outcome["finished"], "the copy hung after its reader was killed"
    assert time.monotonic() - started < 60
    error = outcome.get("error")
    assert isinstance(error, MigrationError), outcome
    assert "reader process died" in str(error) and "resume" in str(error)

    resumed = mlmigrate.copy(str(big_batches), destination)
    assert resumed.as_dict()["verify"]["ok"] is True
    assert mlmigrate.verify(str(big_batches), destination).ok


def test_a_killed_verifier_process_is_replaced_by_reading_back_in_process(
    big_batches: Path, tmp_path: Path
) -> None:
    from mlmigrate.stores import open_store

    destination = sqlite_uri(tmp_path / "dst.db")
    made = open_store(destination)  # a schema made before the copy: units are read back as they
    try:  # commit (into a schema the copy makes, the keys are built first and read back after)
        made.prepare()
    finally:
        made.close()
    killed: list[int] = []

    def kill_the_verifier(event: Event) -> None:
        if event.kind == "unit_done" and not killed:
            time.sleep(1.0)  # the verifier starts after the first unit
            for process in multiprocessing.active_children():
                if process.name != "mlmigrate-reader":
                    os.kill(process.pid, signal.SIGKILL)
                    killed.append(process.pid)

    outcome = _copy_in_thread(big_batches, destination, kill_the_verifier)
    assert killed, "no verifier process was found to kill"
    assert outcome["finished"] and "error" not in outcome, outcome
    report = outcome["report"].as_dict()
    assert report["verify"]["ok"] is True and report["status"] == "done"


def test_a_second_copy_of_a_running_pair_is_refused_naming_the_first(tmp_path: Path) -> None:
    from edge_store import make_minimal_store

    from mlmigrate.engine.locks import PairLock
    from mlmigrate.exceptions import JournalError

    source = make_minimal_store(tmp_path / "minimal")
    destination = sqlite_uri(tmp_path / "dst.db")
    running = PairLock(str(source), destination)  # the first copy, as another process holds it
    running.acquire()
    try:
        with pytest.raises(JournalError, match=rf"is running \(process {os.getpid()}"):
            mlmigrate.copy(str(source), f"sqlite:///{tmp_path / 'dst.db'}")  # another spelling
        assert not (tmp_path / "dst.db").exists()
    finally:
        running.release()
    assert mlmigrate.copy(str(source), destination).as_dict()["status"] == "done"


def test_a_plain_script_without_a_main_guard_runs_its_top_level_once(tmp_path: Path) -> None:
    from edge_store import make_minimal_store

    source = make_minimal_store(tmp_path / "minimal")
    script = tmp_path / "migrate.py"
    script.write_text(
        "import mlmigrate\n"
        "print('TOP LEVEL RAN')\n"
        f"report = mlmigrate.copy({str(source)!r}, {sqlite_uri(tmp_path / 'dst.db')!r})\n"
        "print(report.as_dict()['status'], report.as_dict()['verify']['ok'])\n"
    )
    ran = subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, timeout=300, check=False, cwd=tmp_path
    )
    assert ran.returncode == 0, ran.stderr[-3000:]
    assert ran.stdout.count("TOP LEVEL RAN") == 1, ran.stdout
    assert "done True" in ran.stdout


def test_a_full_journal_disk_is_a_journal_error_naming_it_and_nothing_half_recorded(tmp_path: Path) -> None:
    from mlmigrate.engine.journal import Journal
    from mlmigrate.exceptions import JournalError

    journal = Journal(tmp_path / "state")
    try:
        pages = journal._connection.execute("PRAGMA page_count").fetchone()[0]
        journal._connection.execute(f"PRAGMA max_page_count = {pages + 2}")  # the disk fills up
        units = [(f"experiment:{i}", "experiment", str(i), str(i), "x" * 500) for i in range(2000)]
        with pytest.raises(JournalError, match="journal.sqlite could not be read or written"):
            journal.create("./mlruns", "sqlite:///a.db", units, {})
        assert journal.latest("./mlruns", "sqlite:///a.db") is None  # rolled back whole
    finally:
        journal.close()


def test_a_killed_resource_tracker_neither_stops_the_copy_nor_prints_tracebacks(
    big_batches: Path, tmp_path: Path
) -> None:
    """The multiprocessing resource tracker the helpers register with, killed mid-copy: the copy
    ends verified, with no KeyError traceback from a tracker started again at exit."""
    import psutil

    destination = sqlite_uri(tmp_path / "dst.db")
    process = subprocess.Popen(
        [sys.executable, "-m", "mlmigrate", "copy", str(big_batches), destination, "-q"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    killed = False
    deadline = time.monotonic() + 60
    while not killed and process.poll() is None and time.monotonic() < deadline:
        for child in psutil.Process(process.pid).children(recursive=True):
            try:
                if "resource_tracker" in " ".join(child.cmdline()):
                    child.kill()
                    killed = True
            except psutil.NoSuchProcess:
                continue
        time.sleep(0.02)
    _, stderr = process.communicate(timeout=300)

    assert killed, "no resource tracker was seen while the copy ran"
    assert process.returncode == 0, stderr
    assert "Traceback" not in stderr and "KeyError" not in stderr, stderr
    assert mlmigrate.verify(str(big_batches), destination).ok
