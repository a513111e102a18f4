"""The command line as a user meets it: help, JSON output, plan vs copy, status, import cost."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from cli_helpers import invoke, json_stdout, show, sqlite_uri, squash

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
        "mdm-config",
        "plan",
        "repair",
        "restore",
        "rollback",
        "status",
        "stores",
        "sync",
        "verify",
    ]


@pytest.mark.parametrize("command", [None, *_commands()])
def test_help_exits_zero(command: str | None) -> None:
    args = ["--help"] if command is None else [command, "--help"]

    result = invoke(*args)

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
    planned = invoke("plan", str(edge_store), "--json")
    assert planned.returncode == 0, show(planned)
    plan = json_stdout(planned)

    copied = invoke("copy", str(edge_store), sqlite_uri(tmp_path / "dst.db"), "--json", "-q")
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
    result = invoke("copy", str(minimal_store), sqlite_uri(tmp_path / "dst.db"), "--json")

    assert result.returncode == 0, show(result)
    report = json_stdout(result)  # the whole of stdout is one JSON document
    assert report["status"] == "done"
    assert report["tables"]["runs"]["written"] == 2
    assert "mlmigrate copy" in result.stderr and "verify: equal" in result.stderr, show(result)
    assert "verify: equal" not in result.stdout


def test_quiet_copy_prints_nothing_of_its_own(minimal_store: Path, tmp_path: Path) -> None:
    result = invoke("copy", str(minimal_store), sqlite_uri(tmp_path / "dst.db"), "-q")

    assert result.returncode == 0, show(result)
    assert result.stdout == ""
    assert "mlmigrate copy" not in result.stderr and "verify" not in result.stderr, show(result)


def test_status_lists_the_migration_after_a_copy(minimal_store: Path, tmp_path: Path) -> None:
    destination = sqlite_uri(tmp_path / "dst.db")
    copied = invoke("copy", str(minimal_store), destination, "--json", "-q")
    migration_id = json_stdout(copied)["migration_id"]

    listed = invoke("status", "--json")
    assert listed.returncode == 0, show(listed)
    [migration] = json_stdout(listed)
    assert migration["migration_id"] == migration_id
    assert migration["state"] == "done"
    assert migration["destination"] == destination
    assert (migration["done"], migration["pending"], migration["failed"]) == (3, 0, 0)

    units = invoke("status", migration_id, "--json")
    assert units.returncode == 0, show(units)
    assert {u["state"] for u in json_stdout(units)} == {"done"}

    unknown = invoke("status", "no-such-migration")
    assert unknown.returncode == 2, show(unknown)


def test_status_table_shows_the_whole_migration_id(minimal_store: Path, tmp_path: Path) -> None:
    copied = invoke("copy", str(minimal_store), sqlite_uri(tmp_path / "dst.db"), "--json", "-q")
    migration_id = json_stdout(copied)["migration_id"]

    listed = invoke("status")

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

    assert sorted(mlmigrate.__all__) == [
        "__version__",
        "backup",
        "check",
        "copy",
        "open_store",
        "plan",
        "repair",
        "restore",
        "rollback",
        "status",
        "verify",
    ]
    for name in mlmigrate.__all__:
        assert getattr(mlmigrate, name) is not None, name
        assert name == "__version__" or callable(getattr(mlmigrate, name)), name
    with pytest.raises(AttributeError):
        _ = mlmigrate.no_such_name


def test_plan_with_a_destination_writes_nothing(minimal_store: Path, tmp_path: Path) -> None:
    destination = tmp_path / "not-yet.db"

    planned = invoke("plan", str(minimal_store), sqlite_uri(destination), "--json")

    assert planned.returncode == 0, show(planned)
    plan = json_stdout(planned)
    assert plan["clashes"] == [] and plan["total_rows"] > 0
    assert not destination.exists()


def test_every_store_kind_of_the_registry_is_listed_by_mlmigrate_stores() -> None:
    from mlmigrate.stores.kinds import KINDS

    listed = invoke("stores")
    assert listed.returncode == 0, show(listed)
    for kind in KINDS:
        assert kind.name in listed.stdout
        if kind.extra:  # rich markup would eat the brackets of the extra
            assert f"mlmigrate[{kind.extra}]" in squash(listed.stdout)


def test_the_library_function_behind_status_gives_what_status_json_prints(
    minimal_store: Path, tmp_path: Path
) -> None:
    import mlmigrate

    copied = invoke("copy", str(minimal_store), sqlite_uri(tmp_path / "dst.db"), "--json", "-q")
    migration_id = json_stdout(copied)["migration_id"]

    found = mlmigrate.status()
    one = mlmigrate.status(migration_id)

    assert json.loads(json.dumps(found.as_dict()["migrations"])) == json_stdout(invoke("status", "--json"))
    assert json.loads(json.dumps(one.as_dict()["units"])) == json_stdout(
        invoke("status", migration_id, "--json")
    )
    assert found.errors == [] and one.migrations[0]["state"] == "done"


def test_messages_print_brackets_as_they_are(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """rich markup ate ``[mongodb]`` of the install hint and ``[abc]`` of a path."""
    missing = tmp_path / "runs[abc]" / "mlruns"
    unknown = invoke("status", "no-such[bold]id")
    planned = invoke("plan", str(missing))
    monkeypatch.setitem(sys.modules, "pymongo", None)  # the driver is not installed
    no_driver = invoke("plan", "mongodb://127.0.0.1:1/mlflow")

    assert unknown.returncode == 2 and "'no-such[bold]id'" in unknown.stderr, show(unknown)
    assert planned.returncode == 2 and str(missing) in squash(planned.stderr), show(planned)
    assert no_driver.returncode != 0 and "pip install 'mlmigrate[mongodb]'" in no_driver.stderr, show(
        no_driver
    )


def test_a_bad_config_key_names_its_section(tmp_path: Path) -> None:
    config = tmp_path / "c.json"
    config.write_text(json.dumps({"copy": {"no_such_option": 1}}))

    result = invoke("status", "--config", str(config))

    assert result.returncode == 2 and "config [copy]: unknown option(s) no_such_option" in result.stderr, (
        show(result)
    )


def test_ctrl_c_in_any_command_exits_130_saying_so(monkeypatch: pytest.MonkeyPatch) -> None:
    import mlmigrate.engine.status

    def interrupted(*args: object, **kwargs: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(mlmigrate.engine.status, "status", interrupted)

    result = invoke("status")

    assert result.returncode == 130 and "interrupted" in result.stderr, show(result)
