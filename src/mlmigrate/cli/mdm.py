"""MDM's own commands: ``mdm-config`` (a legacy flat config.yaml as the nested mdm.yaml)."""

from __future__ import annotations

from typing import Annotated

import typer

from mlmigrate.cli.application import app
from mlmigrate.cli.options import JsonFlag, Quiet
from mlmigrate.cli.output import console, print_json, text


@app.command("mdm-config")
def mdm_config(
    home: Annotated[
        str | None, typer.Argument(help="The MDM home (default: MDM_HOME_DIR, else ~/.mdm)")
    ] = None,
    apply: Annotated[
        bool, typer.Option("--apply", help="Write mdm.yaml (the old files copied to config_backup/ first)")
    ] = False,
    as_json: JsonFlag = False,
    quiet: Quiet = False,
) -> None:
    """Show (or with --apply write) MDM's legacy flat config.yaml as the nested mdm.yaml, and the
    environment variables renamed with it; a dry run unless --apply."""
    from mlmigrate.mdm_config import migrate_config

    result = migrate_config(home, apply=apply)
    if as_json:
        print_json(result.as_dict())
    if quiet:
        return
    for old, new, value in result.moved:
        console.print(f"{text(old)} → {text(new)} = {text(repr(value))}")
    for old, new, value, kept in result.kept:
        console.print(f"[yellow]{text(old)} = {text(repr(value))}: mdm.yaml already has {text(new)} = "
                      f"{text(repr(kept))} (kept)[/]")  # fmt: skip
    for key in result.unknown:
        console.print(f"[yellow]{text(key)}: no known place in mdm.yaml; left out[/]")
    for old, new, is_set in result.environment:
        console.print(f"environment: {old} → {new}" + (" (set now: rename it)" if is_set else ""))
    if result.applied:
        console.print(
            f"[green]wrote {text(result.home)}/mdm.yaml[/]; backups: {text(', '.join(result.backups))}"
        )
    else:
        console.print("dry run: nothing written (--apply writes mdm.yaml)")
