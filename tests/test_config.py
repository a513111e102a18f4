"""Options from ``--config`` files (TOML, YAML, JSON) and ``MLMIGRATE_*`` variables: flags win,
then the environment, then the file; ``config show`` masks secrets."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from cli_helpers import CliResult, count, invoke, json_stdout, show, sqlite_uri


def _run(*args: str, env: dict[str, str] | None = None) -> CliResult:
    return invoke(*args, env=env)


def _write(path: Path, data: dict[str, object]) -> Path:
    if path.suffix == ".json":
        path.write_text(json.dumps(data))
    elif path.suffix == ".yaml":
        import yaml

        path.write_text(yaml.safe_dump(data))
    else:
        lines = []
        for section, values in data.items():
            if isinstance(values, dict):
                lines.append(f"[{section}]")
                lines += [f"{key} = {json.dumps(value)}" for key, value in values.items()]
            else:
                lines.insert(0, f"{section} = {json.dumps(values)}")
        path.write_text("\n".join(lines) + "\n")
    return path


@pytest.mark.parametrize("suffix", [".toml", ".yaml", ".json"])
def test_source_destination_and_settings_come_from_a_config_file(
    suffix: str, minimal_store: Path, tmp_path: Path
) -> None:
    destination = tmp_path / "dst.db"
    config = _write(
        tmp_path / f"settings{suffix}",
        {
            "source": {"connection_uri": str(minimal_store)},
            "destination": {"connection_uri": sqlite_uri(destination)},
            "migration_settings": {"validate_data": False, "dry_run": False},
            "copy": {"quiet": True},
        },
    )

    result = _run("copy", "--config", str(config), "--json")

    assert result.returncode == 0, show(result)
    report = json_stdout(result)
    assert report["verify"] is None  # validate_data = false is --no-verify
    assert "mlmigrate copy" not in result.stderr, show(result)  # quiet from the [copy] section
    assert count(sqlite_uri(destination), "runs") == 2


def test_dry_run_in_the_config_only_plans(minimal_store: Path, tmp_path: Path) -> None:
    destination = tmp_path / "dst.db"
    config = _write(tmp_path / "c.json", {"migration_settings": {"dry_run": True}})

    result = _run("copy", str(minimal_store), sqlite_uri(destination), "--config", str(config), "--json")

    assert result.returncode == 0, show(result)
    assert json_stdout(result)["total_rows"] > 0
    assert not destination.exists()


def test_flags_beat_the_environment_which_beats_the_file(minimal_store: Path, tmp_path: Path) -> None:
    """An invalid --on-error value says which layer it came from."""
    config = _write(tmp_path / "c.toml", {"on_error": "from-file"})
    args = ["copy", str(minimal_store), sqlite_uri(tmp_path / "d.db"), "--config", str(config)]

    from_file = _run(*args)
    from_env = _run(*args, env={"MLMIGRATE_ON_ERROR": "from-env"})
    from_flag = _run(*args, "--on-error", "from-flag", env={"MLMIGRATE_ON_ERROR": "from-env"})

    assert "'from-file' is not valid" in from_file.stderr, show(from_file)
    assert "'from-env' is not valid" in from_env.stderr, show(from_env)
    assert "'from-flag' is not valid" in from_flag.stderr, show(from_flag)
    for result in (from_file, from_env, from_flag):
        assert result.returncode == 2


def test_config_show_prints_settings_with_their_origin_and_secrets_masked(tmp_path: Path) -> None:
    config = _write(
        tmp_path / "c.yaml",
        {
            "destination": {"connection_uri": "postgresql://app:file-secret@db:5432/mlflow"},
            "copy": {"workers": 3},
            "api_token": "tok-123",
        },
    )

    result = _run("config", "show", "copy", "--json", "--config", str(config), env={"MLMIGRATE_WORKERS": "5"})

    assert result.returncode == 0, show(result)
    shown = json_stdout(result)["commands"]["copy"]
    assert shown["destination"]["value"] == "postgresql://app:***@db:5432/mlflow"
    assert shown["workers"] == {"value": "5", "from": "environment MLMIGRATE_WORKERS"}
    assert "file-secret" not in result.stdout + result.stderr
    table = _run("config", "show", "--config", str(config))
    assert table.returncode == 0 and "file-secret" not in table.stdout + table.stderr, show(table)


def test_a_bad_config_file_is_a_usage_error_naming_it(tmp_path: Path) -> None:
    broken = tmp_path / "broken.toml"
    broken.write_text("[copy\nworkers = ")
    unknown = _write(tmp_path / "unknown.json", {"copy": {"no_such_option": 1}})

    for path, words in ((broken, "not valid TOML"), (unknown, "no_such_option")):
        result = _run("status", "--config", str(path))
        assert result.returncode == 2, show(result)
        assert str(path) in result.stderr or words in result.stderr, show(result)
        assert words in result.stderr, show(result)


def test_the_source_argument_comes_from_the_config_for_any_command(
    minimal_store: Path, tmp_path: Path
) -> None:
    config = _write(tmp_path / "c.json", {"source": {"uri": str(minimal_store)}})

    from_config = _run("plan", "--config", str(config), "--json")
    direct = _run("plan", str(minimal_store), "--json")

    assert from_config.returncode == 0, show(from_config)
    assert json_stdout(from_config) == json_stdout(direct)


@pytest.mark.parametrize("command", ["copy", "backup", "restore", "plan", "verify"])
def test_the_variables_help_names_are_the_ones_config_show_reads(command: str) -> None:
    """Each ``[env var: NAME]`` in ``--help`` sets its option, as ``config show`` says (help
    once named MLMIGRATE_COPY_WORKERS while MLMIGRATE_WORKERS was read)."""
    import re

    helped = _run(command, "--help", env={"COLUMNS": "400"})
    named = re.findall(r"env var: ([A-Z0-9_]+)", helped.stdout)
    assert len(named) >= 2, show(helped)
    for variable in named:
        shown = _run("config", "show", command, "--json", env={variable: "1"})
        assert shown.returncode == 0, show(shown)
        origins = {item["from"] for item in json_stdout(shown)["commands"][command].values()}
        assert f"environment {variable}" in origins, (variable, show(shown))
