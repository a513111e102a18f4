"""The safety commands of the CLI: ``backup``, ``restore``, ``rollback``, ``check``, ``config show``."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from mlmigrate.cli import (
    EXIT_ERROR,
    EXIT_INTERRUPTED,
    EXIT_MISMATCH,
    EXIT_USAGE,
    JsonFlag,
    LogFile,
    ProgressView,
    Quiet,
    ReportFile,
    StateDir,
    _end_with_report,
    _fail,
    _log_end,
    _mismatches,
    _open_log,
    _print_json,
    _tee,
    app,
    command_parameters,
    console,
)
from mlmigrate.exceptions import ConflictError, MigrationError, UsageError
from mlmigrate.uris import mask

config_app = typer.Typer(help="Show the settings that config files and MLMIGRATE_* variables give.")
app.add_typer(config_app, name="config")


def _run_copy_like(
    title: str,
    run: Any,
    *,
    log_file: Path | None,
    report_file: list[Path] | None,
    as_json: bool,
    quiet: bool,
    details: dict[str, str],
) -> None:
    """Run a copy-shaped command (backup, restore) with progress, log, report and exit codes."""
    from mlmigrate.engine.copy import Interrupted

    log = _open_log(log_file, title, **details)
    try:
        with ProgressView(not quiet, title) as view:
            report = run(_tee(view, log))
    except Interrupted as exc:
        _log_end(log, exc)
        console.print(f"[yellow]{exc}[/]; run the same command again to resume")
        raise typer.Exit(EXIT_INTERRUPTED) from None
    except UsageError as exc:
        _log_end(log, exc)
        raise _fail(exc, EXIT_USAGE) from None
    except MigrationError as exc:
        _log_end(log, exc)
        raise _fail(exc) from None
    except BaseException as exc:
        _log_end(log, exc)
        raise
    data = {**report.as_dict(), "command": title}
    _log_end(log, None, data)
    _end_with_report(data, report_file, as_json=as_json, quiet=quiet)


@app.command()
def backup(
    source: Annotated[str, typer.Argument(help="Store to back up: sqlite:///, postgresql://, mlruns folder")],
    folder: Annotated[Path, typer.Argument(help="New folder for the backup (Parquet files + manifest.json)")],
    state_dir: StateDir = None,
    report_file: ReportFile = None,
    log_file: LogFile = None,
    as_json: JsonFlag = False,
    quiet: Quiet = False,
) -> None:
    """Back up SOURCE into FOLDER: one Parquet file per MLflow table and a manifest, from one snapshot."""
    from mlmigrate.engine.backup import backup as run_backup

    _run_copy_like(
        "backup",
        lambda listener: run_backup(source, folder, state_dir=state_dir, listener=listener),
        log_file=log_file,
        report_file=report_file,
        as_json=as_json,
        quiet=quiet,
        details={"source": source, "folder": str(folder)},
    )
    if not quiet:
        console.print(f"backup in {folder} (manifest.json written last; restore with: mlmigrate restore)")


@app.command()
def restore(
    folder: Annotated[Path, typer.Argument(help="Backup folder (holding manifest.json)")],
    destination: Annotated[str, typer.Argument(help="Store to restore into: sqlite:///, postgresql://")],
    workers: Annotated[int | None, typer.Option("--workers", help="Units written in parallel")] = None,
    state_dir: StateDir = None,
    report_file: ReportFile = None,
    log_file: LogFile = None,
    as_json: JsonFlag = False,
    quiet: Quiet = False,
) -> None:
    """Check every file of the backup in FOLDER against its manifest, then copy it into DESTINATION."""
    from mlmigrate.engine.backup import restore as run_restore

    _run_copy_like(
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


@app.command()
def rollback(
    migration_id: Annotated[
        str | None, typer.Argument(help="Migration to undo (see mlmigrate status)")
    ] = None,
    last: Annotated[
        str | None, typer.Option("--last", help="Undo the newest migration into this destination")
    ] = None,
    destination: Annotated[
        str | None,
        typer.Option("--destination", help="The destination URI, when the journal keeps it masked"),
    ] = None,
    state_dir: StateDir = None,
    as_json: JsonFlag = False,
    quiet: Quiet = False,
) -> None:
    """Remove exactly what one migration wrote; refuse, listing them, if its units changed since."""
    from mlmigrate.engine.rollback import rollback as run_rollback

    if bool(migration_id) == bool(last):
        raise _fail(UsageError("give a migration id or --last DESTINATION (one of them)"), EXIT_USAGE)
    try:
        with ProgressView(not quiet, "rolling back") as view:
            result = run_rollback(
                migration_id, destination_uri=last or destination, state_dir=state_dir, listener=view
            )
    except UsageError as exc:
        raise _fail(exc, EXIT_USAGE) from None
    except (ConflictError, MigrationError) as exc:
        raise _fail(exc) from None
    if as_json:
        _print_json(result.as_dict())
    if not quiet:
        if result.message:
            console.print(f"[green]{result.message}[/]")
        else:
            console.print(
                f"rolled back migration {result.migration_id}: removed {len(result.removed)} unit(s) "
                f"from {mask(result.destination)}"
                + (
                    f"; experiments put back as they were: {', '.join(result.restored)}"
                    if result.restored
                    else ""
                )
            )
            if result.verify.ok:
                console.print(
                    f"[green]verify: the destination is as before[/] ({result.verify.units_checked} units)"
                )
            else:
                _mismatches(result.verify.mismatches)
    if not result.verify.ok:
        raise typer.Exit(EXIT_MISMATCH)


@app.command()
def check(
    source: Annotated[str, typer.Argument(help="Source store")],
    destination: Annotated[str, typer.Argument(help="Destination store")],
    backup_dest: Annotated[
        str | None, typer.Option("--backup-dest", help="Folder a backup of DESTINATION would go to")
    ] = None,
    as_json: JsonFlag = False,
) -> None:
    """Is a copy of SOURCE into DESTINATION ready? Prints GO (exit 0) or NO-GO (exit 1)."""
    from mlmigrate.engine.readiness import check as run_check

    try:
        result = run_check(source, destination, backup_dest=backup_dest)
    except UsageError as exc:
        raise _fail(exc, EXIT_USAGE) from None
    except MigrationError as exc:
        raise _fail(exc) from None
    if as_json:
        _print_json(result.as_dict())
    table = Table(title=f"check {mask(source)} → {mask(destination)}", title_justify="left")
    for column in ("check", "", "detail"):
        table.add_column(column)
    for item in result.checks:
        table.add_row(item["check"], "[green]ok[/]" if item["ok"] else "[red]NO[/]", item["detail"])
    console.print(table)
    estimate = result.estimate
    if "rows" in estimate:
        console.print(
            f"estimate: {estimate['units']} units, about {estimate['rows']:,} rows, "
            f"{estimate['bytes'] / 2**20:,.1f} MiB"
            + (f", about {estimate['seconds']:,} s" if "seconds" in estimate else "")
        )
    if result.go:
        console.print("[bold green]GO[/]")
    else:
        console.print("[bold red]NO-GO[/]: " + "; ".join(c["check"] for c in result.checks if not c["ok"]))
        raise typer.Exit(EXIT_ERROR)


def _defaults(command: str) -> dict[str, Any]:
    """The built-in defaults of a command's options."""
    import typer.main

    commands: dict[str, Any] = getattr(typer.main.get_command(app), "commands", {})
    found = {}
    for param in getattr(commands.get(command), "params", []):
        if param.param_type_name == "option" and param.name and not callable(param.default):
            found[param.name] = param.default
    return found


@config_app.command("show")
def config_show(
    command: Annotated[str | None, typer.Argument(help="Only this command's settings")] = None,
    as_json: JsonFlag = False,
) -> None:
    """Print each command's settings from the config file and environment, secrets masked."""
    from mlmigrate.config import config_path, default_map, masked

    try:
        config_file, _ = config_path(sys.argv[1:], os.environ)
        parameters = command_parameters()
        _, origins = default_map(parameters, config_file, os.environ)
    except UsageError as exc:
        raise _fail(exc, EXIT_USAGE) from None
    if command is not None and command not in parameters:
        raise _fail(UsageError(f"no command {command!r}; valid: {', '.join(sorted(parameters))}"), EXIT_USAGE)
    shown = {
        name: {
            **{
                option: {"value": masked(option, value), "from": "default"}
                for option, value in _defaults(name).items()
            },
            **{
                option: {"value": masked(option, value), "from": origin}
                for option, (value, origin) in settings.items()
            },
        }
        for name, settings in origins.items()
        if command in (None, name)
    }
    if as_json:
        _print_json({"config_file": str(config_file) if config_file else None, "commands": shown})
        return
    console.print(f"config file: {config_file or 'none'}")
    table = Table(title="settings (command-line flags override these)", title_justify="left")
    for column in ("command", "option", "value", "from"):
        table.add_column(column)
    for name, settings in shown.items():
        for option, item in settings.items():
            table.add_row(name, option, item["value"], item["from"])
    console.print(table)
