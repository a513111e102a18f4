"""The commands that read and write nothing but the journal: ``verify``, ``status``, ``check``,
``stores``."""

from __future__ import annotations

import time
from typing import Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table

from mlmigrate.cli.application import app
from mlmigrate.cli.model_root import ModelRoot, with_model_root
from mlmigrate.cli.options import (
    DestinationUri,
    Experiments,
    JsonFlag,
    Models,
    Quiet,
    S3Endpoint,
    SourceUri,
    StateDir,
)
from mlmigrate.cli.output import answer, cell, console, print_json, text
from mlmigrate.cli.progress import ProgressView
from mlmigrate.cli.summaries import mismatches
from mlmigrate.cli.trees import AppEf, ProjectPath, ProjectRoot, app_ef_options
from mlmigrate.exceptions import MigrationError, VerificationError
from mlmigrate.stores.tree.uris import is_tree


@app.command()
def verify(
    source: SourceUri,
    destination: DestinationUri,
    artifacts: Annotated[
        bool,
        typer.Option("--artifacts", help="Also compare every artifact object's size and SHA-256"),
    ] = False,
    s3_endpoint: S3Endpoint = None,
    state_dir: StateDir = None,
    as_json: JsonFlag = False,
    quiet: Quiet = False,
    app_ef: AppEf = False,
    project_path: ProjectPath = "keep",
    project_root: ProjectRoot = None,
    model_root: ModelRoot = None,
) -> None:
    """Compare SOURCE and DESTINATION per unit and table (counts, digests); exit 3 if they differ
    (trees: every object's size and SHA-256, naming each key missing, extra or different)."""
    from mlmigrate.engine.analysis import verify as run_verify

    if is_tree(source) or is_tree(destination):
        from mlmigrate.cli import trees

        trees.verify(
            source,
            destination,
            quiet=quiet,
            as_json=as_json,
            s3_endpoint=s3_endpoint,
            app_ef=app_ef_options(app_ef, project_path, project_root),
        )
        return

    source, checked = with_model_root(source, destination, model_root)
    destination = checked or destination
    with ProgressView(not quiet, "verifying") as view:
        result = run_verify(
            source,
            destination,
            state_dir=state_dir,
            listener=view,
            artifacts=artifacts,
            s3_endpoint=s3_endpoint,
        )
    if as_json:
        print_json(result.as_dict())
    if not quiet:
        if result.ok:
            console.print(
                f"[green]equal[/]: {result.units_checked} units, "
                f"{sum(t['source'] for t in result.tables.values()):,} rows"
                + (
                    f", {sum(result.artifacts['objects_checked'].values()):,} artifact objects"
                    if result.artifacts
                    else ""
                )
            )
        else:
            mismatches(result.mismatches)
    if not result.ok:
        raise typer.Exit(VerificationError.exit_code)


@app.command()
def status(
    migration_id: Annotated[str | None, typer.Argument(help="Show this migration's units")] = None,
    state_dir: StateDir = None,
    as_json: JsonFlag = False,
) -> None:
    """List migrations in the journal (or one migration's units)."""
    from mlmigrate.engine.status import status as run_status

    found = run_status(migration_id, state_dir=state_dir)
    if migration_id:
        if as_json:
            print_json(found.units)
            return
        [record] = found.migrations
        answer.print(
            f"migration {text(migration_id)}: {text(record['source'])} → {text(record['destination'])}, "
            f"{text(record['state'])}, started {_when(record['started'])}, ended {_when(record['ended'])}"
        )
        if record.get("passes"):
            answer.print(_passes_table(record["passes"]))
        table = Table(title=f"migration {text(migration_id)}", title_justify="left")
        for column in ("unit", "label", "destination id", "state", "rows", "node", "error"):
            table.add_column(column)
        for unit in found.units:
            table.add_row(
                text(unit["unit_id"]),
                cell(unit["label"]),
                cell(unit["dest_id"]),
                text(unit["state"]),
                f"{sum(unit['counts'].values()):,}",
                text(unit["node"] or ""),
                text(unit["error"] or ""),
            )
        answer.print(table)
        return
    if as_json:
        print_json(found.migrations)
        return
    table = Table(title=f"migrations in {text(found.journal)}", title_justify="left")
    columns = ("id", "source", "destination", "state", "started", "ended")
    for column in (*columns, "done", "pending", "failed", "skipped"):
        table.add_column(column)
    for m in found.migrations:
        table.add_row(
            text(m["migration_id"]),
            text(m["source"]),
            text(m["destination"]),
            text(m["state"]),
            _when(m["started"]),
            _when(m["ended"]),
            *(str(m[state] or 0) for state in ("done", "pending", "failed", "skipped")),
        )
    answer.print(table)
    for failed in found.errors:
        answer.print(
            f"[red]{text(failed['migration_id'])} {text(failed['unit_id'])} {text(failed['state'])}:[/] "
            f"{text(failed['error'])}"
        )


def _passes_table(passes: list[dict[str, Any]]) -> Table:
    """A migration's sync passes: when, kind, outcome, units changed, new and removed, rows, time."""
    table = Table(title="passes", title_justify="left")
    for column in ("started", "pass", "status", "changed", "new", "removed", "rows", "seconds"):
        table.add_column(column)
    for done in passes:
        table.add_row(
            _when(done["started"]),
            text(done["kind"]),
            text(done["status"]),
            *(str(done[key]) for key in ("units_changed", "units_new", "units_removed")),
            f"{done['rows']:,}",
            f"{done['seconds']:.2f}",
        )
    return table


def _when(stamp: float | None) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(stamp)) if stamp else ""


@app.command()
def check(
    source: SourceUri,
    destination: DestinationUri,
    backup_dest: Annotated[
        str | None, typer.Option("--backup-dest", help="Folder a backup of DESTINATION would go to")
    ] = None,
    state_dir: StateDir = None,
    as_json: JsonFlag = False,
    experiment: Experiments = None,
    model: Models = None,
) -> None:
    """Is a copy of SOURCE into DESTINATION ready? Prints GO (exit 0) or NO-GO (exit 1); an
    unfinished migration of the pair in the journal is shown as resumable."""
    from mlmigrate.engine.readiness import check as run_check
    from mlmigrate.stores.tree.uris import is_tree

    if is_tree(source) or is_tree(destination):
        from mlmigrate.trees.readiness import check_tree

        result = check_tree(source, destination)
    else:
        result = run_check(
            source,
            destination,
            backup_dest=backup_dest,
            state_dir=state_dir,
            experiments=experiment or (),
            models=model or (),
        )
    if as_json:
        print_json(result.as_dict())
    table = Table(title=f"check {text(source)} → {text(destination)}", title_justify="left")
    for column in ("check", "", "detail"):
        table.add_column(column)
    for item in result.checks:
        table.add_row(
            text(item["check"]), "[green]ok[/]" if item["ok"] else "[red]NO[/]", text(item["detail"])
        )
    console.print(table)
    estimate = result.estimate
    if "rows" in estimate:
        console.print(
            f"estimate: {estimate['units']} units, about {estimate['rows']:,} rows, "
            f"{estimate['bytes'] / 2**20:,.1f} MiB"
            + (f", about {estimate['seconds']:,} s" if "seconds" in estimate else "")
        )
    elif "objects_to_copy" in estimate:
        console.print(
            f"estimate: {estimate['objects_to_copy']:,} of {estimate['objects']:,} objects to copy, "
            f"{estimate['bytes_to_copy'] / 2**20:,.1f} MiB"
            + (" (server-side, within one bucket)" if estimate["server_side"] else "")
        )
    if result.go:
        console.print("[bold green]GO[/]")
    else:
        console.print(
            "[bold red]NO-GO[/]: " + "; ".join(text(c["check"]) for c in result.checks if not c["ok"])
        )
        raise typer.Exit(MigrationError.exit_code)


@app.command()
def stores() -> None:
    """List the store kinds and URI forms mlmigrate understands."""
    from mlmigrate.stores.kinds import KINDS

    table = Table(title="stores", title_justify="left")
    for column in ("store", "URI", "use", "driver"):
        table.add_column(column)
    for kind in KINDS:
        driver = kind.install_hint if kind.extra else "included"
        table.add_row(escape(kind.name), escape(kind.uri_forms), escape(kind.uses), escape(driver))
    answer.print(table)
