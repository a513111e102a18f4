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

from mlmigrate.cli.summaries import PARTIAL_EXIT_CODE
from mlmigrate.engine.artifacts import ArtifactOptions

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


def test_report_is_an_audit_record_of_when_with_what_and_how(reported: dict) -> None:
    """Times, tool and MLflow versions, the destination's schema revision and the options the
    copy ran with (passwords masked): none of them were in the report."""
    from importlib.metadata import version

    from mlmigrate.stores.sql.schema import known_revisions

    data = reported["stdout"]

    stamp = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ"
    assert re.fullmatch(stamp, data["started"]) and re.fullmatch(stamp, data["ended"]), data
    assert data["started"] <= data["ended"]
    assert data["versions"] == {"mlmigrate": version("mlmigrate"), "mlflow": version("mlflow")}
    assert data["schema_revision"] == known_revisions()[0]  # the head MLflow's schema was made at
    options = data["options"]
    assert options["state_dir"] == str(reported["html"].parent / "state")
    assert options["on_error"] == "fail" and options["on_conflict"] == "fail" and options["verify"] is True
    assert isinstance(options["workers"], int) and options["workers"] >= 1  # the number used
    assert options["artifacts"] == "keep" and options["artifacts_to"] is None


def test_report_options_mask_passwords(tmp_path: Path) -> None:
    from mlmigrate.engine.copy import CopySettings
    from mlmigrate.engine.report import Report

    settings = CopySettings(
        state_dir=tmp_path,
        artifacts=ArtifactOptions.make(
            None, "s3://bucket/mlruns", ["file:///old=s3://bucket/new"], "http://key:Secr3tPw@minio:9000"
        ),
    )
    report = Report("a", "b", options=settings.as_dict()).as_dict()

    assert "Secr3tPw" not in json.dumps(report)
    assert report["options"]["s3_endpoint"] == "http://key:***@minio:9000"
    assert report["options"]["rewrite"] == ["file:///old=s3://bucket/new"]


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


def _dump_dom(chromium: str, page: Path, profile: Path, *flags: str) -> str:
    """The DOM of ``page`` after Chromium loaded (and laid out) it."""
    dom = subprocess.run(
        [
            chromium,
            *CHROMIUM_FLAGS,
            *flags,
            "--user-data-dir=" + str(profile),
            "--dump-dom",
            page.resolve().as_uri(),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert dom.returncode == 0, dom.stderr[-2000:]
    return dom.stdout


def _screenshot_pixels(chromium: str, page: Path, folder: Path) -> Any:
    """The RGB pixels (N x 3) of a 900 x 1400 screenshot of ``page`` in Chromium."""
    import numpy as np
    from PIL import Image

    screenshot = folder / "report.png"
    shot = subprocess.run(
        [
            chromium,
            *CHROMIUM_FLAGS,
            "--user-data-dir=" + str(folder / "profile"),
            f"--screenshot={screenshot}",
            "--window-size=900,1400",
            page.resolve().as_uri(),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert shot.returncode == 0 and screenshot.exists(), shot.stderr[-2000:]
    with Image.open(screenshot) as image:
        return np.asarray(image.convert("RGB"), dtype=np.int16).reshape(-1, 3)


#: appended to a copy of a report (never to the report itself, which has no script): marks each
#: table cell with where Chromium laid out its text, "left" or "right" of the cell's middle
MEASURE_ALIGNMENT = """<script>
for (const cell of document.querySelectorAll("td, th")) {
  if (!cell.textContent.trim()) continue;
  const range = document.createRange();
  range.selectNodeContents(cell);
  const text = range.getBoundingClientRect(), box = cell.getBoundingClientRect();
  const gapLeft = text.left - box.left, gapRight = box.right - text.right;
  cell.dataset.laid = Math.abs(gapLeft - gapRight) < 2 ? "both" : gapLeft < gapRight ? "left" : "right";
}
const page = document.documentElement;
document.body.dataset.sideways = String(page.scrollWidth > page.clientWidth);
</script>"""


def _measured_dom(chromium: str, report: Path, folder: Path) -> str:
    """The DOM of ``report`` laid out by Chromium in a 900 px wide window, with the marks of
    :data:`MEASURE_ALIGNMENT`."""
    page = folder / "measured.html"
    page.write_text(report.read_text().replace("</body>", MEASURE_ALIGNMENT + "</body>"))
    return _dump_dom(chromium, page, folder / "measure-profile", "--window-size=900,1400")


def _laid_out_cells(chromium: str, report: Path, folder: Path) -> list[tuple[str, str, str]]:
    """(table id, where its text sits, cell text) of every non-empty body cell, as Chromium laid
    them out."""
    html = _measured_dom(chromium, report, folder)
    found = []
    for table_id, table in re.findall(r'<table id="([^"]+)">(.*?)</table>', html, re.S):
        for laid, text in re.findall(r'<td[^>]*?data-laid="(\w+)"[^>]*>(.*?)</td>', table, re.S):
            found.append((table_id, laid, text))
    return found


def test_html_report_renders_in_headless_chromium(reported: dict, tmp_path: Path) -> None:
    chromium = _chromium()
    html = _dump_dom(chromium, reported["html"], tmp_path / "profile")
    data = reported["stdout"]

    assert '<span id="status">done</span>' in html
    assert f'<code id="migration-id">{data["migration_id"]}</code>' in html
    for table, stats in data["tables"].items():
        cells = [table, f"{stats['read']:,}", f"{stats['written']:,}", f"{stats['skipped']:,}"]
        cells.append(f"{stats['errors']:,}")  # rows of units that failed: the errors column
        assert _row(*cells) in html, table
    source_id, dest_id = next(iter(data["experiment_id_map"].items()))
    assert f"<td>{source_id}</td><td>{dest_id}</td>" in html
    assert "exact duplicates" in html  # the collapsed duplicate point is a skipped item with its reason
    assert "verify: equal" in html
    assert html.count("<circle") == len(data["timeline"])

    import numpy as np

    pixels = _screenshot_pixels(chromium, reported["html"], tmp_path)
    chart_blue = int((np.abs(pixels - np.array([0x2B, 0x6C, 0xB0])) < 24).all(axis=1).sum())
    assert chart_blue > 100  # the throughput line was drawn


def _row(first: str, *numbers: str) -> str:
    """The start of a table row as rendered: a text cell, then right-aligned number cells."""
    return f"<td>{first}</td>" + "".join(f'<td class="num">{number}</td>' for number in numbers)


def test_html_report_is_an_audit_record_in_chromium(reported: dict, tmp_path: Path) -> None:
    """The page shows when it ran, with which versions, at which schema revision and with which
    options, and a totals row under the tables."""
    chromium = _chromium()
    html = _dump_dom(chromium, reported["html"], tmp_path / "profile")
    data = reported["stdout"]

    assert f"<td>started (UTC)</td><td>{data['started']}</td>" in html
    assert f"<td>ended (UTC)</td><td>{data['ended']}</td>" in html
    assert f"<td>mlmigrate version</td><td>{data['versions']['mlmigrate']}</td>" in html
    assert f"<td>MLflow version</td><td>{data['versions']['mlflow']}</td>" in html
    assert f"<td>destination schema revision</td><td>{data['schema_revision']}</td>" in html
    assert f"<td>state_dir</td><td>{data['options']['state_dir']}</td>" in html
    assert "<td>on_error</td><td>fail</td>" in html
    tables = data["tables"].values()
    totals = [f"{sum(s[column] for s in tables):,}" for column in ("read", "written", "skipped", "errors")]
    assert f'<tr class="total">{_row("total", *totals)}' in html
    assert totals[1] == f"{data['rows_written']:,}"


def test_html_report_left_aligns_text_and_right_aligns_numbers_in_chromium(
    reported: dict, tmp_path: Path
) -> None:
    """Text cells (labels, reasons, names) were right-aligned like numbers."""
    cells = _laid_out_cells(_chromium(), reported["html"], tmp_path)

    text = [(table, laid, value) for table, laid, value in cells if not re.fullmatch(r"[\d,.]+", value)]
    assert {"tables", "audit", "options", "skipped"} <= {table for table, _, _ in text}
    assert [cell for cell in text if cell[1] == "right"] == []
    numbers = [
        (laid, value) for table, laid, value in cells if table == "tables" and re.fullmatch(r"[\d,.]+", value)
    ]
    assert numbers and [cell for cell in numbers if cell[0] == "left"] == []


@pytest.fixture
def partial_report(minimal_store: Path, tmp_path: Path, postgres_db: str) -> dict:
    """A copy into PostgreSQL with ``--on-error skip`` of a store with one malformed experiment and
    one malformed run: ``{"html", "stdout", "skipped_id", "rejected_run"}``."""
    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri=minimal_store.as_uri())
    healthy = client.create_experiment("healthy")
    good, bad = client.create_run(healthy), client.create_run(healthy)
    client.log_metric(bad.info.run_id, "loss", 1.0)
    client.log_param(good.info.run_id, "p", "v")
    (minimal_store / healthy / bad.info.run_id / "metrics" / "loss").write_text("123 notanumber 0\n")
    [broken] = [
        meta for meta in minimal_store.glob("*/meta.yaml") if "\nname: minimal\n" in "\n" + meta.read_text()
    ]
    broken.write_text("name: [unclosed\n")
    html = tmp_path / "partial.html"
    result = invoke(
        "copy",
        str(minimal_store),
        postgres_db,
        "--on-error",
        "skip",
        "--report",
        str(html),
        "--json",
        "-q",
        "--state-dir",
        str(tmp_path / "state"),
    )
    assert result.returncode == PARTIAL_EXIT_CODE, show(result)
    return {
        "html": html,
        "stdout": json_stdout(result),
        "skipped_id": broken.parent.name,
        "rejected_run": bad.info.run_id,
    }


def test_html_report_shows_a_partial_copy_as_a_warning_in_chromium(
    partial_report: dict, tmp_path: Path
) -> None:
    """A partial copy looked like a finished one; the skipped experiment was listed among the id
    remaps, though it is not in the destination, and a rejected run was not listed at all."""
    import numpy as np

    chromium = _chromium()
    data, skipped_id = partial_report["stdout"], partial_report["skipped_id"]
    assert data["status"] == "partial" and skipped_id in data["experiment_id_map"]  # planned, then skipped
    html = _dump_dom(chromium, partial_report["html"], tmp_path / "profile")

    [banner] = re.findall(r'<div id="warning" class="warn" role="alert">(.*?)</div>', html, re.S)
    assert "Partial copy" in banner and "1 unit(s) and 1 run(s)" in banner
    assert data["rejects_file"] in banner
    remaps = re.search(r'<table id="remaps">(.*?)</table>', html, re.S)
    assert remaps is not None
    assert f"<td>{skipped_id}</td>" not in remaps.group(1)
    kept = [source for source in data["experiment_id_map"] if source != skipped_id]
    assert kept and all(f"<td>{source}</td>" in remaps.group(1) for source in kept)
    skipped = re.search(r'<table id="skipped">(.*?)</table>', html, re.S)
    assert skipped is not None
    assert f"experiment:{skipped_id}" in skipped.group(1)
    assert f"run {partial_report['rejected_run']}" in skipped.group(1)

    pixels = _screenshot_pixels(chromium, partial_report["html"], tmp_path)
    banner_yellow = int((np.abs(pixels - np.array([0xFE, 0xFC, 0xBF])) < 6).all(axis=1).sum())
    assert banner_yellow > 2000  # the banner is drawn, in the warning colour


def test_html_report_of_long_paths_fits_the_window_in_chromium(partial_report: dict, tmp_path: Path) -> None:
    """The reasons of skipped items (long paths without spaces) pushed the page sideways."""
    html = _measured_dom(_chromium(), partial_report["html"], tmp_path)

    assert re.search(r'<body data-sideways="(\w+)"', html) is not None, html[-2000:]
    assert '<body data-sideways="false"' in html
