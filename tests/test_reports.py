"""Report files: HTML (rendered in headless Chromium), JSON, and the JSON-lines log."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cli_helpers import invoke, json_stdout, show

CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture(scope="module")
def reported(
    edge_store: Path, tmp_path_factory: pytest.TempPathFactory, postgres_server_handle: Any
) -> Iterator[dict]:
    """A copy of the edge store into PostgreSQL (its 18-digit ids are remapped there) with every
    report file; ``{"html", "json", "log", "stdout"}``."""
    folder = tmp_path_factory.mktemp("reports")
    destination = postgres_server_handle.create_database()
    paths = {"html": folder / "report.html", "json": folder / "report.json", "log": folder / "copy.log"}
    result = invoke(
        "copy",
        str(edge_store),
        destination,
        "--report",
        str(paths["html"]),
        "--report",
        str(paths["json"]),
        "--log-file",
        str(paths["log"]),
        "--json",
        "--state-dir",
        str(folder / "state"),
        "-q",
    )
    assert result.returncode == 0, show(result)
    yield {**paths, "stdout": json_stdout(result)}
    postgres_server_handle.drop_database(destination)


def test_json_report_is_the_copy_report(reported: dict) -> None:
    data = json.loads(reported["json"].read_text())

    assert data == reported["stdout"]
    assert data["experiment_id_map"]  # FileStore ids too large for PostgreSQL's integer column
    assert data["verify"]["ok"] is True
    assert len(data["timeline"]) == data["units"]["this_run"]
    rows = [point[1] for point in data["timeline"]]
    assert rows == sorted(rows) and rows[-1] == data["rows_written"]


def test_log_file_is_json_lines_from_start_to_end(reported: dict) -> None:
    records = [json.loads(line) for line in reported["log"].read_text().splitlines()]

    assert records[0]["event"] == "start" and records[0]["command"] == "copy"
    assert records[-1]["event"] == "end" and records[-1]["status"] == "done"
    events = {record["event"] for record in records}
    assert {"planned", "unit_started", "unit_done", "rows", "verify_unit"} <= events
    units_done = sum(record["event"] == "unit_done" for record in records)
    assert units_done == reported["stdout"]["units"]["total"]
    assert all(re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", record["time"]) for record in records)


def test_html_report_is_self_contained(reported: dict) -> None:
    text = reported["html"].read_text()

    assert not re.search(r"""(src|href)\s*=""", text)  # no external script, style, image or font
    assert "<svg" in text and "@import" not in text and "url(" not in text


def _chromium() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found is None:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail("chromium is not installed (scripts/test.sh installs it)")
        pytest.skip("chromium is not installed")
    return found


def test_html_report_renders_in_headless_chromium(reported: dict, tmp_path: Path) -> None:
    chromium = _chromium()
    url = reported["html"].resolve().as_uri()
    profile = ["--user-data-dir=" + str(tmp_path / "profile")]
    dom = subprocess.run(
        [chromium, *CHROMIUM_FLAGS, *profile, "--dump-dom", url],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert dom.returncode == 0, dom.stderr[-2000:]
    html = dom.stdout
    data = reported["stdout"]

    assert '<span id="status">done</span>' in html
    assert f'<code id="migration-id">{data["migration_id"]}</code>' in html
    for table, stats in data["tables"].items():
        assert f"<td>{table}</td><td>{stats['read']:,}</td><td>{stats['written']:,}</td>" in html, table
    source_id, dest_id = next(iter(data["experiment_id_map"].items()))
    assert f"<td>{source_id}</td><td>{dest_id}</td>" in html
    assert "exact duplicates" in html  # the collapsed duplicate point is a skipped item with its reason
    assert "verify: equal" in html
    assert html.count("<circle") == len(data["timeline"])

    screenshot = tmp_path / "report.png"
    shot = subprocess.run(
        [chromium, *CHROMIUM_FLAGS, *profile, f"--screenshot={screenshot}", "--window-size=900,1400", url],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert shot.returncode == 0 and screenshot.exists(), shot.stderr[-2000:]
    import numpy as np
    from PIL import Image

    with Image.open(screenshot) as image:
        pixels = np.asarray(image.convert("RGB"), dtype=np.int16).reshape(-1, 3)
    chart_blue = int((np.abs(pixels - np.array([0x2B, 0x6C, 0xB0])) < 24).all(axis=1).sum())
    assert chart_blue > 100  # the throughput line was drawn
