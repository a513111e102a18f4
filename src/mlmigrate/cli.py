"""The ``mlmigrate`` command line: thin wrappers over the library, rendered with rich on stderr."""

from __future__ import annotations

import gc
import json
import logging
import sys
import time
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from mlmigrate.events import Event
from mlmigrate.exceptions import ConflictError, MigrationError, UsageError
from mlmigrate.uris import mask

EXIT_OK, EXIT_ERROR, EXIT_USAGE, EXIT_MISMATCH, EXIT_INTERRUPTED = 0, 1, 2, 3, 130

app = typer.Typer(
    name="mlmigrate",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    help="Move MLflow tracking data and model registry between backends: lossless, resumable, verified.",
)
# Wide and unwrapped when stderr is a file or pipe, so paths and ids stay greppable in logs.
console = Console(stderr=True, soft_wrap=True, width=None if sys.stderr.isatty() else 200)

StateDir = Annotated[
    Path | None,
    typer.Option(
        "--state-dir",
        envvar="MLMIGRATE_STATE_DIR",
        help="Folder of the migration journal [default: ./.mlmigrate]",
    ),
]
JsonFlag = Annotated[bool, typer.Option("--json", help="Print the report as JSON on stdout.")]
ReportFile = Annotated[
    list[Path] | None,
    typer.Option(
        "--report", help="Write the report to FILE.html (self-contained) or FILE.json; may be repeated"
    ),
]
LogFile = Annotated[
    Path | None, typer.Option("--log-file", help="Append a structured log (JSON lines) to this file")
]
Quiet = Annotated[bool, typer.Option("--quiet", "-q", help="No progress or summary on stderr.")]
OnConflict = Annotated[
    str,
    typer.Option(
        "--on-conflict",
        help="What to do with experiments, runs and models the destination already holds: "
        "fail (stop before writing), skip (leave them), merge (add runs to the same-named "
        "experiment, versions to the same-named model), rename (copy under 'name (2)')",
    ),
]
S3Endpoint = Annotated[
    str | None,
    typer.Option(
        "--s3-endpoint",
        envvar="MLFLOW_S3_ENDPOINT_URL",
        help="S3-compatible endpoint URL for s3:// artifacts (MinIO, SeaweedFS…)",
        metavar="URL",
    ),
]


class ProgressView:
    """Renders engine events as a rich progress display on stderr."""

    def __init__(self, enabled: bool, title: str):
        self.enabled = enabled
        self.rows = 0
        self.started = time.perf_counter()
        self.progress = Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[unit]}"),
            TextColumn("{task.fields[detail]}"),
            TimeElapsedColumn(),
            console=console,
            transient=True,
            disable=not enabled,
        )
        self.task = self.progress.add_task(title, total=None, unit="units", detail="0 rows")
        self.artifact_task: Any = None
        self.artifact_bytes = 0
        self.artifact_started = 0.0

    def __enter__(self) -> ProgressView:
        self.progress.__enter__()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.progress.__exit__(*exc)

    def __call__(self, event: Event) -> None:
        data = event.data
        if event.kind == "planned":
            self.progress.update(self.task, total=data["units"], completed=data["units"] - data["todo"])
        elif event.kind == "rows":
            self.rows += data["rows"]
            elapsed = max(time.perf_counter() - self.started, 1e-9)
            self.progress.update(self.task, detail=f"{self.rows:,} rows {self.rows / elapsed:,.0f} rows/s")
        elif event.kind == "artifacts_started":
            self.artifact_started = time.perf_counter()
            self.artifact_task = self.progress.add_task(
                "artifacts", total=None, unit="objects", detail="0 B/s"
            )
        elif event.kind == "artifact_bytes" and self.artifact_task is not None:
            self.artifact_bytes += data["bytes"]
            elapsed = max(time.perf_counter() - self.artifact_started, 1e-9)
            self.progress.update(
                self.artifact_task,
                advance=data["objects"],
                detail=f"{_size(self.artifact_bytes)} {_size(self.artifact_bytes / elapsed)}/s",
            )
        elif event.kind in ("unit_done", "unit_skipped"):
            self.progress.advance(self.task)
            if event.kind == "unit_skipped":
                console.print(f"[yellow]skipped[/] {data['unit']}: {mask(data['error'])}")
        elif event.kind == "verify_started":
            self.progress.update(self.task, description="verifying", total=data["units"], completed=0)
        elif event.kind == "verify_unit":
            self.progress.advance(self.task)
        elif event.kind == "message":
            console.print(data["text"])


def _size(count: float) -> str:
    """``count`` bytes in the largest binary unit that keeps it >= 1."""
    for unit in ("B", "KiB", "MiB", "GiB"):
        if abs(count) < 1024:
            return f"{count:,.1f} {unit}" if unit != "B" else f"{count:,.0f} B"
        count /= 1024
    return f"{count:,.1f} TiB"


def _artifact_summary(artifacts: dict[str, Any] | None) -> None:
    if not artifacts:
        return
    from mlmigrate.artifacts.rewrite import KIND_NAMES

    table = Table(title=f"artifacts → {artifacts['destination']}", title_justify="left")
    for column in ("kind", "objects", "bytes", "copied", "already there", "left in place"):
        table.add_column(column, justify="left" if column == "kind" else "right")
    for kind, stats in artifacts["kinds"].items():
        table.add_row(
            KIND_NAMES.get(kind, kind),
            f"{stats['objects']:,}",
            _size(stats["bytes"]),
            f"{stats['copied']:,}",
            f"{stats['skipped']:,}",
            f"{stats['kept']:,}",
        )
    console.print(table)
    rate = artifacts["bytes_per_second"]
    console.print(
        f"{_size(artifacts['bytes_copied'])} copied in {artifacts['seconds']:.2f} s"
        + (f" ({_size(rate)}/s)" if rate else "")
    )


def _fail(exc: BaseException, code: int = EXIT_ERROR) -> typer.Exit:
    console.print(f"[red]error:[/] {mask(str(exc))}")
    return typer.Exit(code)


def _print_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, indent=2, default=str) + "\n")
    sys.stdout.flush()


def _summary(report: dict[str, Any]) -> None:
    table = Table(title=f"mlmigrate copy — {report['status']}", title_justify="left")
    for column in ("table", "total (read)", "migrated", "skipped", "errors", "seconds"):
        table.add_column(column, justify="left" if column == "table" else "right")
    for name, stats in report["tables"].items():
        table.add_row(
            name,
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
            f"experiment ids remapped (saved in {report['experiment_id_map_file']}; source → destination): "
            + ", ".join(f"{s} → {d}" for s, d in report["experiment_id_map"].items())
        )
    for name, count in report["collapsed_duplicates"].items():
        console.print(
            f"[yellow]note:[/] {count:,} exact duplicate {name} row(s) collapsed: the "
            "destination's key cannot hold the same point twice"
        )
    for name, count in report.get("floats_made_finite", {}).items():
        console.print(
            f"[yellow]note:[/] {count:,} non-finite {name} value(s) stored as ±max float (±inf) or "
            "NULL (NaN): the destination cannot hold them, as in MLflow itself"
        )
    for note in report["notes"]:
        console.print(f"note: {note}")
    _conflicts(report["conflicts"])
    for model, versions in report["renumbered_versions"].items():
        console.print(
            f"versions of {model!r} renumbered (source → destination): "
            + ", ".join(f"{old} → {new}" for old, new in versions.items())
        )
    for reason, tables in report["left_out"].items():
        for name, count in tables.items():
            console.print(f"[yellow]left out[/] ({reason}): {count:,} {name} row(s)")
    for unit in report["skipped_units"]:
        console.print(f"[yellow]skipped[/] {unit['unit']} ({unit['label']}): {unit['error']}")
    _artifact_summary(report.get("artifacts"))
    verify = report.get("verify")
    if verify is not None:
        if verify["ok"]:
            console.print(f"[green]verify: equal[/] ({verify['units_checked']} units, counts and digests)")
        else:
            _mismatches(verify["mismatches"])


def _mismatches(mismatches: list[dict[str, Any]]) -> None:
    console.print(f"[red]verify: {len(mismatches)} difference(s)[/]")
    for item in mismatches[:50]:
        rows = (
            f" (source {item['source_rows']}, destination {item['destination_rows']} rows)"
            if "source_rows" in item
            else ""
        )
        console.print(f"  {item['unit']} · {item['table']}: {item['problem']}{rows}")


@app.command()
def copy(
    source: Annotated[
        str, typer.Argument(help="Source store: mlruns folder, file://, sqlite:///, postgresql://")
    ],
    destination: Annotated[
        str, typer.Argument(help="Destination store: sqlite:///, postgresql://, an mlruns folder")
    ],
    on_error: Annotated[
        str, typer.Option("--on-error", help="fail: stop at a bad unit; skip: skip it and report it")
    ] = "fail",
    on_conflict: OnConflict = "fail",
    verify: Annotated[
        bool, typer.Option("--verify/--no-verify", help="Verify counts and digests at the end")
    ] = True,
    workers: Annotated[int | None, typer.Option("--workers", help="Units written in parallel")] = None,
    batch_size: Annotated[
        int | None,
        typer.Option("--batch-size", help="Documents sent per insert (MongoDB; others ignore it)"),
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
) -> None:
    """Copy SOURCE into DESTINATION; run again to resume after a crash or Ctrl-C."""
    from mlmigrate.engine.copy import Interrupted
    from mlmigrate.engine.copy import copy as run_copy

    if dry_run:
        plan(source, destination, as_json=as_json, quiet=quiet)
        return
    log = _open_log(log_file, "copy", source=source, destination=destination)
    try:
        with ProgressView(not quiet, "copying") as view:
            listener = _tee(view, log)
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
            )
    except Interrupted as exc:
        _log_end(log, exc)
        console.print(f"[yellow]{exc}[/]\nresume with: mlmigrate copy {mask(source)} {mask(destination)}")
        raise typer.Exit(EXIT_INTERRUPTED) from None
    except ConflictError as exc:
        _log_end(log, exc)
        raise _fail(exc) from None
    except UsageError as exc:
        _log_end(log, exc)
        raise _fail(exc, EXIT_USAGE) from None
    except MigrationError as exc:
        _log_end(log, exc)
        if exc.report is not None and not quiet:
            exc.report["status"] = "failed"
            _summary(exc.report)
        failure = _fail(exc)
        if exc.migration_id:
            console.print(f"resume with: mlmigrate copy {mask(source)} {mask(destination)}")
        raise failure from None
    except BaseException as exc:
        _log_end(log, exc)
        raise
    data = report.as_dict()
    if backup_dest is not None:
        data["notes"].append(f"the destination was backed up to {backup_dest} before the copy")
    _log_end(log, None, data)
    _end_with_report(data, report_file, as_json=as_json, quiet=quiet)


def _end_with_report(
    data: dict[str, Any], report_files: list[Path] | None, *, as_json: bool, quiet: bool
) -> None:
    """Write the report files, print the report (JSON on stdout, the summary on stderr) and exit
    with the code its status calls for."""
    for path in report_files or []:
        _write_report(path, data)
    if as_json:
        _print_json(data)
    if not quiet:
        if data["status"] == "up-to-date" or data["message"] == "empty source":
            console.print(f"[green]{data['message'] or data['status']}[/]")
        else:
            _summary(data)
    if data["status"] == "verify-mismatch":
        raise typer.Exit(EXIT_MISMATCH)
    if data["status"] == "failed":
        raise typer.Exit(EXIT_ERROR)


def _backup_destination(destination: str, folder: Path, state_dir: Path | None, listener: Any) -> None:
    from mlmigrate.engine.backup import backup

    listener(Event("message", {"text": f"backing up {mask(destination)} into {folder}"}))
    saved = backup(destination, folder, state_dir=state_dir, listener=listener)
    listener(
        Event(
            "message",
            {"text": f"backup of the destination: {saved.status}, {saved.rows_written:,} rows in {folder}"},
        )
    )


def _open_log(path: Path | None, command: str, **details: str) -> Any:
    if path is None:
        return None
    from mlmigrate.reporting import JsonLinesLog

    log = JsonLinesLog(path)
    log.write("start", command=command, **{k: mask(v) for k, v in details.items()})
    return log


def _log_end(log: Any, error: BaseException | None, report: dict[str, Any] | None = None) -> None:
    if log is None:
        return
    if error is None:
        log.write("end", status=(report or {}).get("status", "done"), report=report)
    else:
        log.write("error", error_type=type(error).__name__, message=mask(str(error)))
    log.close()


def _tee(*listeners: Any) -> Any:
    active = [listener for listener in listeners if listener is not None]

    def listener(event: Event) -> None:
        for each in active:
            each(event)

    return listener


def _write_report(path: Path, data: dict[str, Any]) -> None:
    from mlmigrate.reporting import write_report

    try:
        write_report(path, data)
    except UsageError as exc:
        raise _fail(exc, EXIT_USAGE) from None
    except OSError as exc:
        raise _fail(MigrationError(f"cannot write the report {path}: {exc}")) from None
    console.print(f"report written to {path}")


@app.command()
def plan(
    source: Annotated[str, typer.Argument(help="Source store")],
    destination: Annotated[
        str | None, typer.Argument(help="Destination store (optional): ids and clashes")
    ] = None,
    on_conflict: OnConflict = "fail",
    s3_endpoint: S3Endpoint = None,
    as_json: JsonFlag = False,
    quiet: Quiet = False,
) -> None:
    """Read SOURCE and show what a copy would write: counts per table, artifact objects and
    bytes per kind, id remaps, clashes."""
    from mlmigrate.engine.analysis import plan as run_plan

    try:
        with ProgressView(not quiet, "reading") as view:
            result = run_plan(
                source, destination, on_conflict=on_conflict, listener=view, s3_endpoint=s3_endpoint
            )
    except UsageError as exc:
        raise _fail(exc, EXIT_USAGE) from None
    except MigrationError as exc:
        raise _fail(exc) from None
    if as_json:
        _print_json(result)
        return
    table = Table(title=f"plan — {result['source']}", title_justify="left")
    table.add_column("table")
    table.add_column("rows", justify="right")
    for name, count in result["tables"].items():
        table.add_row(name, f"{count:,}")
    console.print(table)
    console.print(
        f"Total records to migrate: {result['total_rows']:,} "
        f"({result['units']['experiments']} experiments, "
        f"{result['units']['registered_models']} registered models)"
    )
    if result["artifacts"]:
        from mlmigrate.artifacts.rewrite import KIND_NAMES

        artifacts = Table(title="artifacts", title_justify="left")
        for column in ("kind", "objects", "bytes"):
            artifacts.add_column(column, justify="left" if column == "kind" else "right")
        for kind, stats in result["artifacts"].items():
            artifacts.add_row(KIND_NAMES.get(kind, kind), f"{stats['objects']:,}", _size(stats["bytes"]))
        console.print(artifacts)
    for problem in result["problems"]:
        console.print(f"[red]bad input[/] {problem['unit']}: {problem['error']}")
    for source_id, dest_id in result.get("experiment_id_map", {}).items():
        console.print(f"experiment id {source_id} → {dest_id}")
    for clash in result.get("clashes", []):
        console.print(f"[red]clash:[/] {clash}")
    _conflicts(result.get("resolutions", []))
    for name, count in result.get("not_held", {}).items():
        console.print(f"[yellow]not held by the destination:[/] {count:,} {name} row(s)")


def _conflicts(resolutions: list[dict[str, str]]) -> None:
    for item in resolutions:
        console.print(f"on conflict: {item['object']} → {item['action']} ({item['detail']})")


@app.command()
def verify(
    source: Annotated[str, typer.Argument(help="Source store")],
    destination: Annotated[str, typer.Argument(help="Destination store")],
    artifacts: Annotated[
        bool,
        typer.Option("--artifacts", help="Also compare every artifact object's size and SHA-256"),
    ] = False,
    s3_endpoint: S3Endpoint = None,
    state_dir: StateDir = None,
    as_json: JsonFlag = False,
    quiet: Quiet = False,
) -> None:
    """Compare SOURCE and DESTINATION per unit and table (counts, digests); exit 3 if they differ."""
    from mlmigrate.engine.analysis import verify as run_verify

    try:
        with ProgressView(not quiet, "verifying") as view:
            result = run_verify(
                source,
                destination,
                state_dir=state_dir,
                listener=view,
                artifacts=artifacts,
                s3_endpoint=s3_endpoint,
            )
    except UsageError as exc:
        raise _fail(exc, EXIT_USAGE) from None
    except MigrationError as exc:
        raise _fail(exc) from None
    if as_json:
        _print_json(result.as_dict())
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
            _mismatches(result.mismatches)
    if not result.ok:
        raise typer.Exit(EXIT_MISMATCH)


@app.command()
def status(
    migration_id: Annotated[str | None, typer.Argument(help="Show this migration's units")] = None,
    state_dir: StateDir = None,
    as_json: JsonFlag = False,
) -> None:
    """List migrations in the journal (or one migration's units)."""
    from mlmigrate.engine.journal import Journal

    journal = Journal(state_dir)
    try:
        if migration_id:
            units = [vars(u) for u in journal.units(migration_id)]
            record = journal.migration(migration_id)
            if not units or record is None:
                raise _fail(UsageError(f"no migration {migration_id!r} in {journal.path}"), EXIT_USAGE)
            if as_json:
                _print_json(units)
                return
            console.print(
                f"migration {migration_id}: {mask(record['source'])} → {mask(record['destination'])}, "
                f"{record['state']}, started {_when(record['started'])}, ended {_when(record['ended'])}"
            )
            table = Table(title=f"migration {migration_id}", title_justify="left")
            for column in ("unit", "label", "destination id", "state", "rows", "error"):
                table.add_column(column)
            for unit in units:
                table.add_row(
                    unit["unit_id"],
                    unit["label"],
                    unit["dest_id"],
                    unit["state"],
                    f"{sum(unit['counts'].values()):,}",
                    mask(unit["error"] or ""),
                )
            console.print(table)
            return
        migrations = journal.migrations()
        if as_json:
            _print_json(migrations)
            return
        table = Table(title=f"migrations in {journal.path}", title_justify="left")
        for column in (
            "id",
            "source",
            "destination",
            "state",
            "started",
            "ended",
            "done",
            "pending",
            "failed",
            "skipped",
        ):
            table.add_column(column)
        for m in migrations:
            table.add_row(
                m["migration_id"],
                mask(m["source"]),
                mask(m["destination"]),
                m["state"],
                _when(m["started"]),
                _when(m["ended"]),
                str(m["done"] or 0),
                str(m["pending"] or 0),
                str(m["failed"] or 0),
                str(m["skipped"] or 0),
            )
        console.print(table)
        for m in migrations:
            for failed in journal.units(m["migration_id"]):
                if failed.error:
                    console.print(
                        f"[red]{m['migration_id']} {failed.unit_id} {failed.state}:[/] {mask(failed.error)}"
                    )
    finally:
        journal.close()


def _when(stamp: float | None) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(stamp)) if stamp else ""


@app.command()
def stores() -> None:
    """List the store kinds and URI forms mlmigrate understands."""
    from mlmigrate.stores.kinds import KINDS

    table = Table(title="stores", title_justify="left")
    for column in ("store", "URI", "use", "driver"):
        table.add_column(column)
    for kind in KINDS:
        driver = kind.install_hint if kind.extra else "included"
        table.add_row(kind.name, escape(kind.uri_forms), escape(kind.uses), escape(driver))
    console.print(table)


def command_parameters() -> dict[str, list[str]]:
    """Each command's parameter names (what a config file or the environment may set)."""
    import typer.main

    commands: dict[str, Any] = getattr(typer.main.get_command(app), "commands", {})
    return {name: [p.name for p in command.params if p.name] for name, command in commands.items()}


def _configured(argv: list[str]) -> tuple[list[str], dict[str, dict[str, Any]]]:
    """The arguments without ``--config FILE``, and the defaults the file and environment give."""
    import os

    from mlmigrate.config import config_path, default_map

    config_file, args = config_path(argv, os.environ)
    defaults, _ = default_map(command_parameters(), config_file, os.environ)
    return args, defaults


def main() -> None:
    """Entry point of the ``mlmigrate`` console script."""
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    import warnings

    warnings.filterwarnings("ignore", category=FutureWarning)
    try:
        args, defaults = _configured(sys.argv[1:])
    except UsageError as exc:
        console.print(f"[red]error:[/] {mask(str(exc))}")
        sys.exit(EXIT_USAGE)
    try:
        app(args=args, prog_name="mlmigrate", default_map=defaults, auto_envvar_prefix="MLMIGRATE")
    except KeyboardInterrupt:
        console.print("[yellow]interrupted[/]")
        sys.exit(EXIT_INTERRUPTED)
    finally:
        # The process ends here, its stores, journal and helpers closed: spare the interpreter's
        # exit a garbage collection over every loaded module (about 0.2 s with pyarrow,
        # SQLAlchemy and the drivers loaded). Objects are still released as usual.
        gc.freeze()


from mlmigrate import cli_safety  # noqa: E402,F401  (registers backup, restore, rollback, check, config)
