"""The resume command a stopped copy prints is the command as given, options included: run
literally, it resumes the same migration."""

from __future__ import annotations

import shlex
from pathlib import Path

from cli_helpers import invoke, json_stdout, show, sqlite_uri


def _resume_line(stderr: str) -> str:
    lines = [line for line in stderr.splitlines() if line.startswith("resume with: ")]
    assert len(lines) == 1, stderr
    return lines[0].removeprefix("resume with: ")


def test_the_printed_resume_command_keeps_the_options_and_resumes_the_migration(
    minimal_store: Path, tmp_path: Path
) -> None:
    """It printed only SOURCE and DESTINATION: run literally, it looked for the journal in the
    default place, missed the migration under --state-dir and started another one."""
    experiment = next(p for p in sorted(minimal_store.iterdir()) if p.name.isdigit() and p.name != "0")
    metric = next(experiment.glob("*/metrics/*"))
    kept = metric.read_text()
    metric.write_text("not a metric line\n")
    state = tmp_path / "my state"
    destination = sqlite_uri(tmp_path / "dst.db")
    given = ("copy", str(minimal_store), destination, "--state-dir", str(state), "--workers", "1")

    failed = invoke(*given, "--retry-window", "5", "-q")

    assert failed.returncode == 1, show(failed)
    command = shlex.split(_resume_line(failed.stderr))
    assert command[:4] == ["mlmigrate", *given[:3]]
    for option in (["--state-dir", str(state)], ["--workers", "1"], ["--retry-window", "5.0"], ["--quiet"]):
        assert any(command[i : i + len(option)] == option for i in range(len(command))), command
    metric.write_text(kept)

    resumed = invoke(*command[1:], "--json")

    assert resumed.returncode == 0, show(resumed)
    assert "resuming migration" in resumed.stderr
    listed = json_stdout(invoke("status", "--json", "--state-dir", str(state)))
    assert [m["state"] for m in listed] == ["done"], listed


def test_a_negative_retry_window_is_a_usage_error(minimal_store: Path, tmp_path: Path) -> None:
    refused = invoke("copy", str(minimal_store), sqlite_uri(tmp_path / "dst.db"), "--retry-window", "-1")

    assert refused.returncode == 2, show(refused)
    assert not (tmp_path / "dst.db").exists()
