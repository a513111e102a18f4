"""``mlmigrate mdm-config``: MDM's legacy flat config.yaml as the nested mdm.yaml (seed 003)."""

from __future__ import annotations

from pathlib import Path

import yaml
from cli_helpers import invoke, json_stdout, show


def _home(tmp_path: Path) -> Path:
    home = tmp_path / ".mdm"
    home.mkdir()
    (home / "config.yaml").write_text("backend: duckdb\nbatch_size: 1000\nfancy_option: 3\n")
    (home / "mdm.yaml").write_text(
        yaml.safe_dump({"database": {"default_backend": "sqlite", "postgresql": {"password": "s3cret"}}})
    )
    return home


def test_a_dry_run_lists_the_mapping_and_the_renamed_variables_and_writes_nothing(tmp_path: Path) -> None:
    home = _home(tmp_path)
    before = (home / "mdm.yaml").read_text()
    result = invoke("mdm-config", str(home), "--json", env={"MDM_BATCH_SIZE": "5"})
    assert result.returncode == 0, show(result)
    report = json_stdout(result)
    assert report["applied"] is False and (home / "mdm.yaml").read_text() == before
    assert {"from": "batch_size", "to": "performance.batch_size", "value": 1000} in report["moved"]
    # mdm.yaml already says sqlite: kept, and the difference listed
    assert report["kept"] == [
        {"from": "backend", "to": "database.default_backend", "legacy": "duckdb", "kept": "sqlite"}
    ]
    assert report["unknown"] == ["fancy_option"]
    assert {"old": "MDM_BACKEND", "new": "MDM_DATABASE_DEFAULT_BACKEND", "set_now": False} in report[
        "environment"
    ]
    assert {"old": "MDM_BATCH_SIZE", "new": "MDM_PERFORMANCE_BATCH_SIZE", "set_now": True} in report[
        "environment"
    ]
    assert "s3cret" not in result.stdout + result.stderr


def test_apply_backs_up_both_files_and_writes_the_nested_config(tmp_path: Path) -> None:
    home = _home(tmp_path)
    legacy = (home / "config.yaml").read_text()
    result = invoke("mdm-config", str(home), "--apply")
    assert result.returncode == 0, show(result)
    written = yaml.safe_load((home / "mdm.yaml").read_text())
    assert written["performance"] == {"batch_size": 1000}
    assert written["database"]["default_backend"] == "sqlite"
    assert written["database"]["postgresql"]["password"] == "s3cret"
    assert (home / "config_backup" / "config.yaml").read_text() == legacy
    assert (home / "config_backup" / "mdm.yaml").is_file()


def test_a_home_without_a_legacy_config_is_refused(tmp_path: Path) -> None:
    result = invoke("mdm-config", str(tmp_path))
    assert result.returncode == 2 and "config.yaml" in result.stderr, show(result)
