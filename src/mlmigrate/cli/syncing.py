"""The ``sync`` command: catch a destination up with its source, pass after pass, for a cutover."""

from __future__ import annotations

import re
import time
from typing import Annotated, Any

import typer

from mlmigrate.cli.application import app, recovery
from mlmigrate.cli.options import DestinationUri, JsonFlag, Quiet, SourceUri, StateDir
from mlmigrate.cli.output import console, print_json, text
from mlmigrate.cli.progress import ProgressView
from mlmigrate.cli.rerun import command_line
from mlmigrate.cli.summaries import mismatches
from mlmigrate.events import Event
from mlmigrate.exceptions import UsageError, VerificationError

_UNITS = {"": 1.0, "s": 1.0, "m": 60.0, "h": 3600.0}


def pause(spelled: str) -> float:
    """Seconds of a pause spelled ``30s``, ``2m``, ``1h`` or ``45``."""
    found = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([smh]?)\s*", spelled)
    if found is None or float(found.group(1)) <= 0:
        raise UsageError(f"--watch {spelled!r} is not valid; give a pause such as 30s, 2m or 1h")
    return float(found.group(1)) * _UNITS[found.group(2)]


def describe_pass(done: dict[str, Any]) -> str:
    """One line per pass: when, kind, units changed, new and removed, rows, time."""
    when = time.strftime("%H:%M:%S", time.localtime(done["started"]))
    units = f"{done['units_changed']} changed, {done['units_new']} new, {done['units_removed']} removed"
    if done["kind"] == "copy":
        units = "first copy"
    line = f"{when} {done['kind']} pass: {done['status']}, {units}, {done['rows']:,} rows"
    line += f", {done['seconds']:.2f} s"
    if done["by_digest"]:
        line += f" ({done['by_digest']} unit(s) without a watermark compared by digests)"
    for left in done["left"]:
        line += f"\n  {left['unit']} left the source but stays in the destination: {left['reason']}"
    return line


@app.command()
def sync(
    ctx: typer.Context,
    source: SourceUri,
    destination: DestinationUri,
    watch: Annotated[
        str | None,
        typer.Option(
            "--watch", metavar="PAUSE", help="Keep catching up, a pass every PAUSE (30s, 2m), until Ctrl-C"
        ),
    ] = None,
    final: Annotated[
        bool,
        typer.Option("--final", help="Last pass and a full verify; prints the lag closed and what to switch"),
    ] = False,
    workers: Annotated[int | None, typer.Option("--workers", help="Units written in parallel")] = None,
    state_dir: StateDir = None,
    as_json: JsonFlag = False,
    quiet: Quiet = False,
) -> None:
    """Catch DESTINATION up with what SOURCE changed since the last pass (the first pass copies
    everything); for a cutover without a maintenance window."""
    from mlmigrate.engine.sync import sync as run_sync

    recovery(ctx).resume_command = command_line(ctx)
    seconds = pause(watch) if watch is not None else None

    def listener(event: Event) -> None:
        view(event)
        if event.kind == "sync_pass" and not quiet:
            console.print(text(describe_pass(event.data)))

    with ProgressView(not quiet, "syncing") as view:
        try:
            report = run_sync(
                source,
                destination,
                final=final,
                watch=seconds,
                state_dir=state_dir,
                workers=workers,
                listener=listener,
            )
        except KeyboardInterrupt:
            if seconds is None:
                raise
            console.print("[yellow]stopped watching[/]; the last pass finished")
            return
    data = report.as_dict()
    if as_json:
        print_json(data)
    if final and not quiet:
        lag = data["lag"]
        console.print(
            f"lag closed: {lag['units']} unit(s), {lag['rows']:,} rows changed in the source in the "
            f"{lag['seconds']:.1f} s since the pass before; the final pass took "
            f"{lag['final_pass_seconds']:.2f} s"
        )
        if data["verify"]["ok"]:
            console.print(
                f"[green]verified:[/] {data['verify']['units_checked']} units equal. Switch MLflow to the "
                f"destination: MLFLOW_TRACKING_URI={text(data['switch_to'])} (or `mlflow server "
                f"--backend-store-uri {text(data['switch_to'])}`); roll back with `mlmigrate rollback "
                f"{text(data['migration_id'])}`"
            )
    if final and not data["verify"]["ok"]:
        if not quiet:
            mismatches(data["verify"]["mismatches"])
        raise VerificationError(
            "the destination differs from the source after the final pass; do not switch yet"
        )
    if not report.ok:
        raise typer.Exit(1)
