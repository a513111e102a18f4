"""Report files of a migration: self-contained HTML, JSON, and a structured (JSON lines) log."""

from __future__ import annotations

import html
import json
import os
import threading
import time
from pathlib import Path
from typing import Any, TextIO

from mlmigrate.events import Event
from mlmigrate.exceptions import UsageError
from mlmigrate.uris import mask

REPORT_FORMATS = (".html", ".htm", ".json")


def report_format(path: Path) -> str:
    """The format of a report file, by its suffix (``.html``, ``.htm``, ``.json``); a
    :class:`UsageError` for another, raised before any work when an option names it."""
    suffix = path.suffix.lower()
    if suffix not in REPORT_FORMATS:
        raise UsageError(f"--report {path}: unknown format {suffix!r}; valid: {', '.join(REPORT_FORMATS)}")
    return suffix


def write_report(path: Path, report: dict[str, Any]) -> None:
    """Write ``report`` (a :meth:`Report.as_dict`) as HTML or JSON, chosen by the file's suffix."""
    suffix = report_format(path)
    text = render_html(report) if suffix in (".html", ".htm") else json.dumps(report, indent=2, default=str)
    partial = path.with_name(f".{path.name}.tmp")
    path.parent.mkdir(parents=True, exist_ok=True)
    partial.write_text(mask(text) + "\n", encoding="utf-8")
    os.replace(partial, path)


def _e(value: Any) -> str:
    return html.escape(mask(str(value)))


def _chart(timeline: list[list[float]], width: int = 640, height: int = 220) -> str:
    """Inline SVG: rows written over time (cumulative line) and the rate between points."""
    points = [(0.0, 0)] + [(float(t), int(r)) for t, r in timeline]
    if len(points) < 2:
        return '<p class="muted">No units were written in this run: no throughput to chart.</p>'
    pad = 44
    max_t = max(points[-1][0], 1e-3)
    max_r = max(points[-1][1], 1)

    def x(t: float) -> float:
        return pad + (width - 2 * pad) * t / max_t

    def y(r: float) -> float:
        return height - pad + -(height - 2 * pad) * r / max_r

    line = " ".join(f"{x(t):.1f},{y(r):.1f}" for t, r in points)
    rates = []
    for (t0, r0), (t1, r1) in zip(points, points[1:], strict=False):
        rate = (r1 - r0) / max(t1 - t0, 1e-6)
        rates.append(f"<title>{rate:,.0f} rows/s between {t0:.2f} s and {t1:.2f} s</title>")
    dots = "".join(
        f'<circle cx="{x(t):.1f}" cy="{y(r):.1f}" r="3">{title}</circle>'
        for (t, r), title in zip(points[1:], rates, strict=True)
    )
    return (
        f'<svg id="throughput" xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'role="img" aria-label="rows written over time">'
        f'<line x1="{pad}" y1="{height - pad}" x2="{width - pad}" y2="{height - pad}" stroke="#888"/>'
        f'<line x1="{pad}" y1="{pad}" x2="{pad}" y2="{height - pad}" stroke="#888"/>'
        f'<polyline fill="none" stroke="#2b6cb0" stroke-width="2" points="{line}"/>{dots}'
        f'<text x="{pad}" y="{pad - 8}" font-size="12">{max_r:,} rows</text>'
        f'<text x="{width - pad}" y="{height - pad + 28}" font-size="12" text-anchor="end">'
        f"{max_t:.2f} s</text>"
        f'<text x="{width / 2}" y="{height - 6}" font-size="12" text-anchor="middle">'
        "time since start (s) — rows written</text></svg>"
    )


def _table(
    headers: list[str],
    rows: list[list[Any]],
    table_id: str,
    *,
    numeric: frozenset[int] = frozenset(),
    totals: list[Any] | None = None,
) -> str:
    """An HTML table; the columns at indices ``numeric`` are right-aligned, the rest left."""

    def cells(row: list[Any], tag: str) -> str:
        return "".join(
            f'<{tag} class="num">{_e(c)}</{tag}>' if i in numeric else f"<{tag}>{_e(c)}</{tag}>"
            for i, c in enumerate(row)
        )

    head = cells(headers, "th")
    body = "".join(f"<tr>{cells(row, 'td')}</tr>" for row in rows)
    foot = f'<tfoot><tr class="total">{cells(totals, "td")}</tr></tfoot>' if totals is not None else ""
    return f'<table id="{table_id}"><thead><tr>{head}</tr></thead><tbody>{body}</tbody>{foot}</table>'


def _rate(rows: int, seconds: float) -> str:
    return f"{rows / seconds:,.0f}" if seconds >= 0.01 else ""


def _audit(report: dict[str, Any]) -> str:
    """When, with what and how the command ran: times, versions, schema revision, options."""
    versions = report.get("versions") or {}
    facts = [
        ["started (UTC)", report.get("started") or ""],
        ["ended (UTC)", report.get("ended") or ""],
        ["mlmigrate version", versions.get("mlmigrate") or "unknown"],
        ["MLflow version", versions.get("mlflow") or "not installed"],
        ["destination schema revision", report.get("schema_revision") or "none"],
    ]
    options = [
        [name, "" if value is None else value] for name, value in (report.get("options") or {}).items()
    ]
    return (
        "<h2>Audit</h2>"
        + _table(["item", "value"], facts, "audit")
        + (_table(["option", "value"], options, "options") if options else "")
    )


def _warning(report: dict[str, Any]) -> str:
    """A banner for a copy that finished without everything (``partial``), else nothing."""
    if report["status"] != "partial":
        return ""
    units = report["units"]
    rejects = report.get("rejects_file")
    where = f"; each is named in <code>{_e(rejects)}</code>" if rejects else ""
    return (
        '<div id="warning" class="warn" role="alert"><strong>Partial copy.</strong> '
        f"{units['skipped']} unit(s) and {units['runs_rejected']} run(s) were left out as malformed "
        f"(--on-error skip){where}. Everything else was copied.</div>"
    )


def render_html(report: dict[str, Any]) -> str:
    """A self-contained HTML page (no external assets) of a copy report."""
    stats = report["tables"].values()
    tables = [
        [
            name,
            f"{s['read']:,}",
            f"{s['written']:,}",
            f"{s['skipped']:,}",
            f"{s.get('errors', 0):,}",
            f"{s['seconds']:.2f}",
            _rate(s["written"], s["seconds"]),
        ]
        for name, s in report["tables"].items()
    ]
    totals = [
        "total",
        f"{sum(s['read'] for s in stats):,}",
        f"{sum(s['written'] for s in stats):,}",
        f"{sum(s['skipped'] for s in stats):,}",
        f"{sum(s.get('errors', 0) for s in stats):,}",
        f"{report['seconds']:.2f}",
        _rate(report["rows_written"], report["seconds"]),
    ]
    left_out = {u["unit"] for u in report["skipped_units"]}  # not in the destination: not remapped
    remaps = [[s, d] for s, d in report["experiment_id_map"].items() if f"experiment:{s}" not in left_out]
    skipped = [[u["unit"], u.get("label", ""), u["error"]] for u in report["skipped_units"]]
    skipped += [[f"run {u['run']}", u.get("label", ""), u["error"]] for u in report.get("rejected_runs", [])]
    skipped += [[u["unit"], u.get("label", ""), u["error"]] for u in report["failed_units"]]
    skipped += [
        [f"{rows:,} {table} row(s)", "", "exact duplicates: the destination's key holds each point once"]
        for table, rows in report["collapsed_duplicates"].items()
    ]
    findings = [[f["code"], f["where"], f["message"], f["action"]] for f in report.get("source_findings", [])]
    found_html = (
        _table(["code", "where", "what", "done"], findings, "findings")
        if findings
        else '<p class="muted">nothing</p>'
    )
    verify = report.get("verify")
    if verify is None:
        verdict = '<p id="verify" class="muted">verify: not run</p>'
    elif verify["ok"]:
        verdict = f'<p id="verify" class="ok">verify: equal ({verify["units_checked"]} units)</p>'
    else:
        count = len(verify["mismatches"])
        verdict = f'<p id="verify" class="bad">verify: {count} difference(s)</p>' + _table(
            ["unit", "table", "problem"],
            [[m["unit"], m["table"], m["problem"]] for m in verify["mismatches"]],
            "mismatches",
        )
    headers = ["table", "read", "written", "skipped", "errors", "seconds", "rows/s"]
    tables_html = _table(headers, tables, "tables", numeric=frozenset(range(1, 7)), totals=totals)
    units = report["units"]
    rate = report.get("rows_per_second")
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<title>mlmigrate report {_e(report["migration_id"])}</title>
<style>
body {{ font: 14px system-ui, sans-serif; margin: 2em; color: #222; }}
table {{ border-collapse: collapse; margin: 0.5em 0 1.5em; }}
th, td {{ border: 1px solid #ccc; padding: 3px 8px; text-align: left; vertical-align: top; }}
td {{ overflow-wrap: anywhere; }} code {{ overflow-wrap: anywhere; }}
.num {{ text-align: right; font-variant-numeric: tabular-nums; }}
tfoot td {{ font-weight: bold; border-top: 2px solid #888; }}
.warn {{ background: #fefcbf; border: 1px solid #d69e2e; color: #744210; padding: 0.6em 1em; }}
.ok {{ color: #276749; font-weight: bold; }} .bad {{ color: #c53030; font-weight: bold; }}
.muted {{ color: #777; }} circle {{ fill: #2b6cb0; }}
</style></head><body>
<h1>mlmigrate {_e(report.get("command", "copy"))} — <span id="status">{_e(report["status"])}</span></h1>
<p>migration <code id="migration-id">{_e(report["migration_id"])}</code><br>
source <code>{_e(report["source"])}</code><br>destination <code>{_e(report["destination"])}</code></p>
<p id="totals">{report["rows_written"]:,} rows written in {report["seconds"]:.2f} s
{f"({rate:,} rows/s)" if rate else ""}; units {units["done"]}/{units["total"]} done,
{units["skipped"]} skipped, {units["failed"]} failed</p>
{_warning(report)}
<h2>Tables</h2>
{tables_html}
<h2>Throughput</h2>
{_chart(report.get("timeline", []))}
<h2>Experiment id remaps</h2>
{_table(["source id", "destination id"], remaps, "remaps") if remaps else '<p class="muted">none</p>'}
<h2>Skipped items</h2>
{_table(["item", "label", "reason"], skipped, "skipped") if skipped else '<p class="muted">none</p>'}
<h2>Found in the source</h2>
{found_html}
<h2>Verify</h2>
{verdict}
{"".join(f"<p>note: {_e(n)}</p>" for n in report["notes"])}
{_audit(report)}
</body></html>"""


class JsonLinesLog:
    """A listener that appends every engine event to a file, one JSON object per line.

    Row events are folded into a count per table and flushed with the next other event,
    so the log stays small on stores of millions of rows.
    """

    def __init__(self, path: Path):
        path.parent.mkdir(parents=True, exist_ok=True)
        self._file: TextIO = path.open("a", encoding="utf-8")
        self._lock = threading.Lock()
        self._rows: dict[str, int] = {}

    def write(self, kind: str, **data: Any) -> None:
        """Append one record."""
        now = time.time()
        stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(now)) + f".{int(now % 1 * 1000):03d}Z"
        record = {"time": stamp, "event": kind, **data}
        with self._lock:
            self._file.write(mask(json.dumps(record, default=str)) + "\n")
            self._file.flush()

    def __call__(self, event: Event) -> None:
        if event.kind == "rows":
            with self._lock:
                self._rows[event.data["table"]] = self._rows.get(event.data["table"], 0) + event.data["rows"]
            return
        with self._lock:
            rows, self._rows = self._rows, {}
        if rows:
            self.write("rows", tables=rows)
        self.write(event.kind, **event.data)

    def close(self) -> None:
        """Close the file."""
        self._file.close()
