"""The commands that read a store to write another: ``copy``, ``plan``, ``backup``, ``restore``."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from mlmigrate.cli.application import app, recovery
from mlmigrate.cli.logfile import command_log, log_end
from mlmigrate.cli.model_root import ModelRoot, with_model_root
from mlmigrate.cli.options import (
    DestinationUri,
    Experiments,
    JsonFlag,
    LogFile,
    Models,
    OnConflict,
    Quiet,
    ReportFile,
    RetryWindow,
    S3Endpoint,
    SourceUri,
    StateDir,
)
from mlmigrate.cli.output import answer, console, print_json, size, text
from mlmigrate.cli.progress import ProgressView, tee
from mlmigrate.cli.rerun import command_line
from mlmigrate.cli.summaries import conflicts, end_with_report, findings, summary
from mlmigrate.cli.trees import AppEf, DeleteExtra, ProjectPath, ProjectRoot, WithFiles, app_ef_options
from mlmigrate.engine.retry import DEFAULT_WINDOW
from mlmigrate.events import Event, Listener
from mlmigrate.stores.tree.uris import is_tree
from mlmigrate.uris import mask


@app.command()
def copy(
    ctx: typer.Context,
    source: SourceUri,
    destination: DestinationUri,
    on_error: Annotated[
        str, typer.Option("--on-error", help="fail: stop at a bad unit; skip: skip it and report it")
    ] = "fail",
    on_conflict: OnConflict = "fail",
    verify: Annotated[
        bool, typer.Option("--verify/--no-verify", help="Verify counts and digests at the end")
    ] = True,
    workers: Annotated[int | None, typer.Option("--workers", help="Units written in parallel")] = None,
    executor: Annotated[
        str | None,
        typer.Option(
            "--executor",
            help="Where units run: local (this process, default), ray (RAY_ADDRESS's cluster, else a "
            "local Ray instance) or ray://HOST:PORT (Ray Client); pip install 'mlmigrate[ray]'",
        ),
    ] = None,
    batch_size: Annotated[
        int | None,
        typer.Option(
            "--batch-size",
            help="Documents per insert (MongoDB), models per transaction (a registry); others ignore it",
        ),
    ] = None,
    artifacts: Annotated[
        str | None,
        typer.Option(
            "--artifacts",
            help="keep: leave artifacts where they are (default); copy: copy them to --artifacts-to",
        ),
    ] = None,
    artifacts_to: Annotated[
        str | None,
        typer.Option(
            "--artifacts-to",
            help="Copy the artifacts under ROOT (a path, s3://, gs://, az://, wasbs://); rewrite their URIs",
            metavar="ROOT",
        ),
    ] = None,
    rewrite: Annotated[
        list[str] | None,
        typer.Option("--rewrite", help="OLD=NEW: rewrite stored artifact URIs under OLD (repeatable)"),
    ] = None,
    s3_endpoint: S3Endpoint = None,
    state_dir: StateDir = None,
    retry_window: RetryWindow = DEFAULT_WINDOW,
    as_json: JsonFlag = False,
    quiet: Quiet = False,
    backup_dest: Annotated[
        Path | None,
        typer.Option("--backup-dest", help="First back up DESTINATION into this new folder (Parquet)"),
    ] = None,
    report_file: ReportFile = None,
    log_file: LogFile = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Only plan: show what would be written; write nothing")
    ] = False,
    experiment: Experiments = None,
    model: Models = None,
    delete_extra: DeleteExtra = False,
    app_ef: AppEf = False,
    project_path: ProjectPath = "keep",
    project_root: ProjectRoot = None,
    into: Annotated[
        str | None,
        typer.Option(
            "--into",
            help="Family of data an empty DESTINATION gets: mlflow, registry (default: the source's)",
        ),
    ] = None,
    model_root: ModelRoot = None,
) -> None:
    """Copy SOURCE into DESTINATION; run again to resume after a crash or Ctrl-C."""
    from mlmigrate.engine.copy import copy as run_copy

    if dry_run:
        plan(
            source,
            destination,
            model_root=model_root,
            on_conflict=on_conflict,
            s3_endpoint=s3_endpoint,
            as_json=as_json,
            quiet=quiet,
            experiment=experiment,
            model=model,
            delete_extra=delete_extra,
            app_ef=app_ef,
            project_path=project_path,
            project_root=project_root,
        )
        return
    if is_tree(source) or is_tree(destination):
        from mlmigrate.cli import trees

        trees.refuse_row_options(
            {
                "--on-error": on_error != "fail",
                "--on-conflict": on_conflict != "fail",
                "--batch-size": batch_size is not None,
                "--artifacts": artifacts is not None,
                "--artifacts-to": artifacts_to is not None,
                "--rewrite": bool(rewrite),
                "--backup-dest": backup_dest is not None,
                "--report": bool(report_file),
                "--log-file": log_file is not None,
                "--experiment": bool(experiment),
                "--model": bool(model),
            }
        )
        recovery(ctx).resume_command = command_line(ctx)
        trees.copy(
            source,
            destination,
            quiet=quiet,
            as_json=as_json,
            delete_extra=delete_extra,
            verify=verify,
            state_dir=state_dir,
            s3_endpoint=s3_endpoint,
            workers=workers,
            app_ef=app_ef_options(app_ef, project_path, project_root),
            executor=executor,
        )
        return
    source, rooted = with_model_root(source, destination, model_root, into=into)
    destination = rooted or destination
    stopped = recovery(ctx)
    stopped.resume_command = command_line(ctx)
    stopped.summary = None if quiet else summary
    logged = command_log(log_file, "copy", source=source, destination=destination)
    with logged as log, ProgressView(not quiet, "copying") as view:
        listener = tee(view, log)
        if backup_dest is not None:
            _backup_destination(destination, backup_dest, state_dir, listener)
        report = run_copy(
            source,
            destination,
            on_error=on_error,
            on_conflict=on_conflict,
            verify=verify,
            workers=workers,
            state_dir=state_dir,
            listener=listener,
            batch_size=batch_size,
            artifacts=artifacts,
            artifacts_to=artifacts_to,
            rewrite=rewrite or (),
            s3_endpoint=s3_endpoint,
            retry_window=retry_window,
            experiments=experiment or (),
            models=model or (),
            into=into,
            executor=executor,
        )
    data = report.as_dict()
    if backup_dest is not None:
        data["notes"].append(f"the destination was backed up to {backup_dest} before the copy")
    log_end(log, data)
    end_with_report(data, report_file, as_json=as_json, quiet=quiet)


def _backup_destination(destination: str, folder: Path, state_dir: Path | None, listener: Listener) -> None:
    from mlmigrate.engine.backup import backup as run_backup

    listener(Event("message", {"text": f"backing up {mask(destination)} into {folder}"}))
    saved = run_backup(destination, folder, state_dir=state_dir, listener=listener)
    listener(
        Event(
            "message",
            {"text": f"backup of the destination: {saved.status}, {saved.rows_written:,} rows in {folder}"},
        )
    )


@app.command()
def plan(
    source: SourceUri,
    destination: Annotated[
        str | None, typer.Argument(help="Destination store (optional): ids and clashes")
    ] = None,
    on_conflict: OnConflict = "fail",
    s3_endpoint: S3Endpoint = None,
    as_json: JsonFlag = False,
    quiet: Quiet = False,
    experiment: Experiments = None,
    model: Models = None,
    delete_extra: DeleteExtra = False,
    app_ef: AppEf = False,
    project_path: ProjectPath = "keep",
    project_root: ProjectRoot = None,
    model_root: ModelRoot = None,
) -> None:
    """Read SOURCE and show what a copy would write: counts per table, artifact objects and
    bytes per kind, id remaps, clashes (for trees: objects, bytes, what exists already)."""
    from mlmigrate.engine.analysis import plan as run_plan

    if is_tree(source) or is_tree(destination):
        from mlmigrate.cli import trees

        trees.plan(
            source,
            destination,
            as_json=as_json,
            s3_endpoint=s3_endpoint,
            delete_extra=delete_extra,
            app_ef=app_ef_options(app_ef, project_path, project_root),
        )
        return

    source, destination = with_model_root(source, destination, model_root)
    with ProgressView(not quiet, "reading") as view:
        result = run_plan(
            source,
            destination,
            on_conflict=on_conflict,
            listener=view,
            s3_endpoint=s3_endpoint,
            experiments=experiment or (),
            models=model or (),
        )
    if as_json:
        print_json(result)
        return
    table = Table(title=f"plan — {text(result['source'])}", title_justify="left")
    table.add_column("table")
    table.add_column("rows", justify="right")
    for name, count in result["tables"].items():
        table.add_row(text(name), f"{count:,}")
    answer.print(table)
    answer.print(f"Total records to migrate: {result['total_rows']:,} ({text(result['units_in_words'])})")
    answer.print(f"Change detection for sync: {text(result['change_detection'])}")
    if result["artifacts"]:
        from mlmigrate.artifacts.rewrite import KIND_NAMES

        artifacts = Table(title="artifacts", title_justify="left")
        for column in ("kind", "objects", "bytes"):
            artifacts.add_column(column, justify="left" if column == "kind" else "right")
        for kind, stats in result["artifacts"].items():
            artifacts.add_row(text(KIND_NAMES.get(kind, kind)), f"{stats['objects']:,}", size(stats["bytes"]))
        answer.print(artifacts)
    for problem in result["problems"]:
        answer.print(f"[red]bad input[/] {text(problem['unit'])}: {text(problem['error'])}")
    findings(answer, result.get("source_findings", []))
    for source_id, dest_id in result.get("experiment_id_map", {}).items():
        answer.print(f"experiment id {text(source_id)} → {text(dest_id)}")
    for clash in result.get("clashes", []):
        answer.print(f"[red]clash:[/] {text(clash)}")
    conflicts(result.get("resolutions", []))
    for name, count in result.get("not_held", {}).items():
        answer.print(f"[yellow]not held by the destination:[/] {count:,} {text(name)} row(s)")
    for refusal in result.get("refusals", []):
        where = f"{refusal['unit']} ({refusal['label']})" + (
            f", run {refusal['run']}" if refusal["run"] else ""
        )
        answer.print(f"[red]refused:[/] {text(where)}: {text(refusal['error'])}")
    if result.get("refusals_total", 0) > len(result.get("refusals", [])):
        answer.print(
            f"[red]refused:[/] … {result['refusals_total'] - len(result['refusals']):,} more (see --json)"
        )
    for name, count in result.get("collapsed_duplicates", {}).items():
        answer.print(f"[yellow]held once:[/] {count:,} exact duplicate {text(name)} row(s)")
    for name, count in result.get("merged_by_key", {}).items():
        answer.print(
            f"[yellow]held once:[/] {count:,} {text(name)} row(s) the destination's key merges with another "
            "(-0.0 and 0.0 at one step and timestamp; a logged model's points of two datasets)"
        )


def _run_copy_like(
    ctx: typer.Context,
    title: str,
    run: Callable[[Listener], Any],
    *,
    log_file: Path | None,
    report_file: list[Path] | None,
    as_json: bool,
    quiet: bool,
    details: dict[str, str],
) -> None:
    """Run a copy-shaped command (backup, restore) with progress, log, report and exit codes."""
    recovery(ctx).rerun_resumes = True
    with command_log(log_file, title, **details) as log, ProgressView(not quiet, title) as view:
        report = run(tee(view, log))
    data = {**report.as_dict(), "command": title}
    log_end(log, data)
    end_with_report(data, report_file, as_json=as_json, quiet=quiet)


@app.command()
def backup(
    ctx: typer.Context,
    source: SourceUri,
    folder: Annotated[Path, typer.Argument(help="New folder for the backup (Parquet files + manifest.json)")],
    state_dir: StateDir = None,
    report_file: ReportFile = None,
    log_file: LogFile = None,
    as_json: JsonFlag = False,
    quiet: Quiet = False,
    with_files: WithFiles = None,
    s3_endpoint: S3Endpoint = None,
) -> None:
    """Back up SOURCE into FOLDER: one Parquet file per MLflow table and a manifest, from one snapshot
    (a tree: data.tar.gz, the --with files and a manifest with every object's SHA-256)."""
    from mlmigrate.engine.backup import backup as run_backup

    if is_tree(source):
        from mlmigrate.cli import trees

        trees.backup(
            source, folder, with_files=with_files or [], quiet=quiet, as_json=as_json, s3_endpoint=s3_endpoint
        )
        return
    if with_files:
        from mlmigrate.exceptions import UsageError

        raise UsageError("--with is for tree backups (a tree:// SOURCE)")

    _run_copy_like(
        ctx,
        "backup",
        lambda listener: run_backup(source, folder, state_dir=state_dir, listener=listener),
        log_file=log_file,
        report_file=report_file,
        as_json=as_json,
        quiet=quiet,
        details={"source": source, "folder": str(folder)},
    )
    if not quiet:
        console.print(
            f"backup in {text(folder)} (manifest.json written last; restore with: mlmigrate restore)"
        )


@app.command()
def restore(
    ctx: typer.Context,
    folder: Annotated[Path, typer.Argument(help="Backup folder (holding manifest.json)")],
    destination: DestinationUri,
    workers: Annotated[int | None, typer.Option("--workers", help="Units written in parallel")] = None,
    state_dir: StateDir = None,
    report_file: ReportFile = None,
    log_file: LogFile = None,
    as_json: JsonFlag = False,
    quiet: Quiet = False,
    s3_endpoint: S3Endpoint = None,
    with_files: WithFiles = None,
) -> None:
    """Check every file of the backup in FOLDER against its manifest, then copy it into DESTINATION
    (a tree backup: into an empty or new tree, and each --with file put back at its path)."""
    from mlmigrate.engine.backup import restore as run_restore
    from mlmigrate.trees.archive import is_tree_backup

    if is_tree_backup(folder):
        from mlmigrate.cli import trees

        trees.restore(
            folder,
            destination,
            with_files=with_files or [],
            quiet=quiet,
            as_json=as_json,
            s3_endpoint=s3_endpoint,
        )
        return
    if with_files:
        from mlmigrate.exceptions import UsageError

        raise UsageError("--with is for tree backups (a folder written by backup tree://...)")

    _run_copy_like(
        ctx,
        "restore",
        lambda listener: run_restore(
            folder, destination, state_dir=state_dir, listener=listener, workers=workers
        ),
        log_file=log_file,
        report_file=report_file,
        as_json=as_json,
        quiet=quiet,
        details={"folder": str(folder), "destination": destination},
    )
