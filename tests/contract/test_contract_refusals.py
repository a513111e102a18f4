"""What a destination refuses or holds once, on every kind: ``plan`` and ``check`` list it by
unit, run and file before anything is written, and ``copy --on-error skip`` leaves out exactly
those runs, counts the rows its keys hold once, and verifies (issues 21 and 22)."""

from __future__ import annotations

from pathlib import Path

import pytest
from cli_helpers import json_stdout, show
from cli_helpers import run_cli_here as run_cli
from refusal_store import make_refusal_store

from mlmigrate.cli.summaries import PARTIAL_EXIT_CODE
from mlmigrate.engine.report import MERGED_BY_KEY

from .kinds import StoreKindFixture, capabilities_of


@pytest.fixture(scope="session")
def refusal_master(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, str]]:
    """The refusal store, built with ``MlflowClient`` once per session. Treat as read-only."""
    return make_refusal_store(tmp_path_factory.mktemp("refusal-store"))


def _refused_runs(kind: StoreKindFixture, runs: dict[str, str]) -> set[str]:
    """The runs (and logged models) the kind refuses: a step outside int64 everywhere; ``k`` and
    ``k `` where every collation pads trailing spaces (MySQL/MariaDB, ``utf8mb4_bin`` included)."""
    refused = {runs["huge-step"], runs["model:huge-step"]}
    if kind.name == "mysql":
        refused.add(runs["spaces"])
    return refused


def _merged(destination: str) -> dict[str, int]:
    """What the kind's keys hold once though the rows differ: -0.0/0.0 at one step and
    timestamp, and a logged model's points of two datasets at one step and timestamp."""
    capabilities = capabilities_of(destination)
    if not capabilities.unique_metric_points:
        return {}  # a FileStore keeps every line
    held = capabilities.tables
    return {table: 1 for table in ("metrics", "logged_model_metrics") if held is None or table in held}


def test_plan_and_check_foresee_every_refusal_before_anything_is_written(
    kind: StoreKindFixture, refusal_master: tuple[Path, dict[str, str]], destination: str
) -> None:
    mlruns, runs = refusal_master

    planned = run_cli("plan", str(mlruns), destination, "--json")

    assert planned.returncode == 0 and "Traceback" not in planned.stderr, show(planned)
    report = json_stdout(planned)
    assert {entry["run"] for entry in report["refusals"]} == _refused_runs(kind, runs), report["refusals"]
    step = next(entry for entry in report["refusals"] if entry["run"] == runs["huge-step"])
    assert "metrics/m:1" in step["error"] and "out of range for int64" in step["error"]  # named by file
    if kind.name == "mysql":
        spaces = next(entry for entry in report["refusals"] if entry["run"] == runs["spaces"])
        assert "'k' and 'k '" in spaces["error"] and "trailing spaces" in spaces["error"], spaces
    assert report["merged_by_key"] == _merged(destination)

    checked = run_cli("check", str(mlruns), destination, "--json")

    assert checked.returncode == 1, show(checked)  # NO-GO
    [refusals] = [c for c in json_stdout(checked)["checks"] if c["check"] == "destination: refusals"]
    assert not refusals["ok"] and runs["huge-step"] in refusals["detail"], refusals
    assert kind.counts(destination) == dict.fromkeys(kind.counts(destination), 0)  # nothing written


def test_on_error_skip_leaves_out_the_refused_runs_and_counts_what_the_keys_merge(
    kind: StoreKindFixture, refusal_master: tuple[Path, dict[str, str]], destination: str, tmp_path: Path
) -> None:
    mlruns, runs = refusal_master

    result = run_cli("copy", str(mlruns), destination, "--on-error", "skip", "--json")

    assert result.returncode == PARTIAL_EXIT_CODE, show(result)
    report = json_stdout(result)
    assert report["failed_units"] == [] and report["skipped_units"] == [], show(result)
    assert {entry["run"] for entry in report["rejected_runs"]} == _refused_runs(kind, runs)
    assert report["left_out"].get(MERGED_BY_KEY, {}) == _merged(destination)
    refused = _refused_runs(kind, runs) - {runs["model:huge-step"]}
    assert kind.count(destination, "runs") == len([n for n in runs if ":" not in n]) - len(refused)
    assert report["verify"]["ok"], report["verify"]

    verified = run_cli("verify", str(mlruns), destination)

    assert verified.returncode == 0, show(verified)
