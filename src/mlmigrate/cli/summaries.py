"""A copy-shaped report (copy, backup, restore) rendered on stderr, written to files, and
turned into the exit status its outcome calls for."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer
from rich.console import Console
from rich.table import Table

from mlmigrate.cli.output import console, print_json, size, text
from mlmigrate.exceptions import MigrationError, VerificationError


def summary(report: dict[str, Any]) -> None:
    """The per-table table and the notes of a copy report."""
    table = Table(title=f"mlmigrate copy — {text(report['status'])}", title_justify="left")
    for column in ("table", "total (read)", "migrated", "skipped", "errors", "seconds"):
        table.add_column(column, justify="left" if column == "table" else "right")
    for name, stats in report["tables"].items():
        table.add_row(
            text(name),
            f"{stats['read']:,}",
            f"{stats['written']:,}",
            f"{stats['skipped']:,}",
            f"{stats['errors']:,}",
            f"{stats['seconds']:.2f}",
        )
    console.print(table)
    units = report["units"]
    rate = report["rows_per_second"]
    console.print(
        f"{report['rows_written']:,} rows in {report['seconds']:.2f} s"
        + (f" ({rate:,} rows/s)" if rate else "")
        + f"; units: {units['done']}/{units['total']} done, {units['skipped']} skipped, "
        f"{units['failed']} failed"
    )
    if report["experiment_id_map"]:
        console.print(
            f"experiment ids remapped (saved in {text(report['experiment_id_map_file'])}; "
            "source → destination): "
            + ", ".join(f"{text(s)} → {text(d)}" for s, d in report["experiment_id_map"].items())
        )
    for name, count in report["collapsed_duplicates"].items():
        console.print(
            f"[yellow]note:[/] {count:,} exact duplicate {text(name)} row(s) collapsed: the "
            "destination's key cannot hold the same point twice"
        )
    for name, count in report.get("floats_made_finite", {}).items():
        console.print(
            f"[yellow]note:[/] {count:,} non-finite {text(name)} value(s) stored as ±max float (±inf) or "
            "NULL (NaN): the destination cannot hold them, as in MLflow itself"
        )
    for note in report["notes"]:
        console.print(f"note: {text(note)}")
    conflicts(report["conflicts"])
    findings(console, report.get("source_findings", []))
    for model, versions in report["renumbered_versions"].items():
        console.print(
            f"versions of {text(repr(model))} renumbered (source → destination): "
            + ", ".join(f"{text(old)} → {text(new)}" for old, new in versions.items())
        )
    for reason, tables in report["left_out"].items():
        for name, count in tables.items():
            console.print(f"[yellow]left out[/] ({text(reason)}): {count:,} {text(name)} row(s)")
    for unit in report["skipped_units"]:
        console.print(
            f"[yellow]skipped[/] {text(unit['unit'])} ({text(unit['label'])}): {text(unit['error'])}"
        )
    artifact_summary(report.get("artifacts"))
    verify = report.get("verify")
    if verify is not None:
        if verify["ok"]:
            console.print(f"[green]verify: equal[/] ({verify['units_checked']} units, counts and digests)")
        else:
            mismatches(verify["mismatches"])


def findings(out: Console, found: list[dict[str, str]]) -> None:
    """What the source found wrong in itself (or how it read what is ambiguous), one line each."""
    for finding in found:
        colour = "dim" if finding.get("code") == "note" else "yellow"
        out.print(
            f"[{colour}]{text(finding['code'])}[/] {text(finding['where'])}: {text(finding['message'])}"
            f" → {text(finding['action'])}"
        )


def artifact_summary(artifacts: dict[str, Any] | None) -> None:
    """The artifacts phase of a copy report, per kind of artifact."""
    if not artifacts:
        return
    from mlmigrate.artifacts.rewrite import KIND_NAMES

    table = Table(title=f"artifacts → {text(artifacts['destination'])}", title_justify="left")
    for column in ("kind", "objects", "bytes", "copied", "already there", "left in place"):
        table.add_column(column, justify="left" if column == "kind" else "right")
    for kind, stats in artifacts["kinds"].items():
        table.add_row(
            text(KIND_NAMES.get(kind, kind)),
            f"{stats['objects']:,}",
            size(stats["bytes"]),
            f"{stats['copied']:,}",
            f"{stats['skipped']:,}",
            f"{stats['kept']:,}",
        )
    console.print(table)
    rate = artifacts["bytes_per_second"]
    console.print(
        f"{size(artifacts['bytes_copied'])} copied in {artifacts['seconds']:.2f} s"
        + (f" ({size(rate)}/s)" if rate else "")
    )


def mismatches(found: list[dict[str, Any]]) -> None:
    """The differences a verify found (the first 50)."""
    console.print(f"[red]verify: {len(found)} difference(s)[/]")
    for item in found[:50]:
        rows = (
            f" (source {item['source_rows']}, destination {item['destination_rows']} rows)"
            if "source_rows" in item
            else ""
        )
        console.print(f"  {text(item['unit'])} · {text(item['table'])}: {text(item['problem'])}{rows}")


def conflicts(resolutions: list[dict[str, str]]) -> None:
    """What ``--on-conflict`` did with each object the destination already held."""
    for item in resolutions:
        console.print(
            f"on conflict: {text(item['object'])} → {text(item['action'])} ({text(item['detail'])})"
        )


#: the exit code of a copy that finished but left out what was malformed (``--on-error skip``):
#: the units and runs named in the report and its rejects file (rclone, too, exits non-zero
#: when it could not copy everything)
PARTIAL_EXIT_CODE = 4


def end_with_report(
    data: dict[str, Any], report_files: list[Path] | None, *, as_json: bool, quiet: bool
) -> None:
    """Write the report files, print the report (JSON on stdout, the summary on stderr) and exit
    with the code its status calls for."""
    for path in report_files or []:
        write_report(path, data)
    if as_json:
        print_json(data)
    if not quiet:
        if data["status"] == "up-to-date" or data["message"] == "empty source":
            console.print(f"[green]{text(data['message'] or data['status'])}[/]")
        else:
            summary(data)
    if data["status"] == "verify-mismatch":
        raise typer.Exit(VerificationError.exit_code)
    if data["status"] == "failed":
        raise typer.Exit(MigrationError.exit_code)
    if data["status"] == "partial":
        raise typer.Exit(PARTIAL_EXIT_CODE)


def write_report(path: Path, data: dict[str, Any]) -> None:
    """Write the report to ``path`` (HTML or JSON, by its suffix)."""
    from mlmigrate.reporting import write_report as write

    try:
        write(path, data)
    except OSError as exc:
        raise MigrationError(f"cannot write the report {path}: {exc}") from None
    console.print(f"report written to {text(path)}")
