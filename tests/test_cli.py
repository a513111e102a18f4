"""The command line as a user meets it: help, JSON output, plan vs copy, status, import cost."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from cli_helpers import json_stdout, run_cli, show, sqlite_uri, squash

REPO = Path(__file__).resolve().parents[1]


def _commands() -> list[str]:
    import typer.main

    from mlmigrate.cli import app

    return sorted(typer.main.get_command(app).commands)


def test_cli_has_the_documented_commands() -> None:
    assert _commands() == [
        "backup",
        "check",
        "config",
        "copy",
        "plan",
        "restore",
        "rollback",
        "status",
        "stores",
        "verify",
    ]


@pytest.mark.parametrize("command", [None, *_commands()])
def test_help_exits_zero(command: str | None) -> None:
    args = ["--help"] if command is None else [command, "--help"]

    result = run_cli(*args)

    assert result.returncode == 0, show(result)
    assert "Usage" in result.stdout, show(result)
    if command is None:
        for name in _commands():
            assert name in result.stdout, name


def test_every_command_is_in_the_readme() -> None:
    readme = REPO / "README.md"
    if not readme.exists():
        pytest.skip("no README.md in the repository")
    text = readme.read_text(encoding="utf-8")
    missing = [name for name in _commands() if f"mlmigrate {name}" not in text]
    assert missing == []


def test_plan_counts_equal_what_copy_writes(edge_store: Path, tmp_path: Path) -> None:
    planned = run_cli("plan", str(edge_store), "--json")
    assert planned.returncode == 0, show(planned)
    plan = json_stdout(planned)

    copied = run_cli("copy", str(edge_store), sqlite_uri(tmp_path / "dst.db"), "--json", "-q")
    assert copied.returncode == 0, show(copied)
    report = json_stdout(copied)

    assert plan["problems"] == []
    written = {name: stats["written"] for name, stats in report["tables"].items() if stats["written"]}
    collapsed = report["collapsed_duplicates"]
    assert collapsed == {"metrics": 1}  # the edge store's one exact duplicate point
    expected = {name: rows - collapsed.get(name, 0) for name, rows in plan["tables"].items() if rows}
    assert written == expected
    assert plan["total_rows"] == report["rows_written"] + sum(collapsed.values())
    # the summary's per-table columns add up: what was read is what was written or skipped
    read = {name: stats["read"] for name, stats in report["tables"].items() if stats["read"]}
    assert read == {name: rows for name, rows in plan["tables"].items() if rows}
    assert report["tables"]["metrics"]["skipped"] == 1


def test_copy_json_goes_to_stdout_and_progress_to_stderr(minimal_store: Path, tmp_path: Path) -> None:
    result = run_cli("copy", str(minimal_store), sqlite_uri(tmp_path / "dst.db"), "--json")

    assert result.returncode == 0, show(result)
    report = json_stdout(result)  # the whole of stdout is one JSON document
    assert report["status"] == "done"
    assert report["tables"]["runs"]["written"] == 2
    assert "mlmigrate copy" in result.stderr and "verify: equal" in result.stderr, show(result)
    assert "verify: equal" not in result.stdout


def test_quiet_copy_prints_nothing_of_its_own(minimal_store: Path, tmp_path: Path) -> None:
    result = run_cli("copy", str(minimal_store), sqlite_uri(tmp_path / "dst.db"), "-q")

    assert result.returncode == 0, show(result)
    assert result.stdout == ""
    assert "mlmigrate copy" not in result.stderr and "verify" not in result.stderr, show(result)


def test_status_lists_the_migration_after_a_copy(minimal_store: Path, tmp_path: Path) -> None:
    destination = sqlite_uri(tmp_path / "dst.db")
    copied = run_cli("copy", str(minimal_store), destination, "--json", "-q")
    migration_id = json_stdout(copied)["migration_id"]

    listed = run_cli("status", "--json")
    assert listed.returncode == 0, show(listed)
    [migration] = json_stdout(listed)
    assert migration["migration_id"] == migration_id
    assert migration["state"] == "done"
    assert migration["destination"] == destination
    assert (migration["done"], migration["pending"], migration["failed"]) == (3, 0, 0)

    units = run_cli("status", migration_id, "--json")
    assert units.returncode == 0, show(units)
    assert {u["state"] for u in json_stdout(units)} == {"done"}

    unknown = run_cli("status", "no-such-migration")
    assert unknown.returncode == 2, show(unknown)


def test_status_table_shows_the_whole_migration_id(minimal_store: Path, tmp_path: Path) -> None:
    copied = run_cli("copy", str(minimal_store), sqlite_uri(tmp_path / "dst.db"), "--json", "-q")
    migration_id = json_stdout(copied)["migration_id"]

    listed = run_cli("status")

    assert listed.returncode == 0, show(listed)
    assert migration_id in listed.stdout + listed.stderr, show(listed)


def test_import_is_light() -> None:
    code = (
        "import json, sys, mlmigrate; "
        "print(json.dumps(sorted(m for m in ('sqlalchemy', 'pyarrow', 'mlflow', 'numpy', 'typer') "
        "if m in sys.modules)))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)

    assert json.loads(result.stdout) == []


def test_public_names_exist() -> None:
    import mlmigrate

    assert sorted(mlmigrate.__all__) == ["__version__", "copy", "open_store", "plan", "verify"]
    for name in mlmigrate.__all__:
        assert getattr(mlmigrate, name) is not None, name
    assert callable(mlmigrate.copy) and callable(mlmigrate.plan) and callable(mlmigrate.verify)
    with pytest.raises(AttributeError):
        _ = mlmigrate.no_such_name


def test_plan_with_a_destination_writes_nothing(minimal_store: Path, tmp_path: Path) -> None:
    destination = tmp_path / "not-yet.db"

    planned = run_cli("plan", str(minimal_store), sqlite_uri(destination), "--json")

    assert planned.returncode == 0, show(planned)
    plan = json_stdout(planned)
    assert plan["clashes"] == [] and plan["total_rows"] > 0
    assert not destination.exists()


def test_every_store_kind_of_the_registry_is_listed_by_mlmigrate_stores() -> None:
    from mlmigrate.stores.kinds import KINDS

    listed = run_cli("stores")
    assert listed.returncode == 0, show(listed)
    for kind in KINDS:
        assert kind.name in listed.stderr
        if kind.extra:  # rich markup would eat the brackets of the extra
            assert f"mlmigrate[{kind.extra}]" in squash(listed.stderr)
