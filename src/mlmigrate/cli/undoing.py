"""The commands that set a destination or the journal back: ``rollback`` and ``repair``."""

from __future__ import annotations

from typing import Annotated

import typer

from mlmigrate.cli.application import app
from mlmigrate.cli.options import DestinationUri, JsonFlag, Quiet, SourceUri, StateDir
from mlmigrate.cli.output import console, print_json, text
from mlmigrate.cli.progress import ProgressView
from mlmigrate.cli.summaries import mismatches
from mlmigrate.exceptions import UsageError, VerificationError


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
        raise UsageError("give a migration id or --last DESTINATION (one of them)")
    from mlmigrate.cli.trees import tree_migration

    tree_id = tree_migration(migration_id, last, state_dir)
    if tree_id is not None:
        from mlmigrate.cli import trees

        trees.rollback(tree_id, quiet=quiet, as_json=as_json, state_dir=state_dir)
        return
    with ProgressView(not quiet, "rolling back") as view:
        result = run_rollback(
            migration_id, destination_uri=last or destination, state_dir=state_dir, listener=view
        )
    if as_json:
        print_json(result.as_dict())
    if not quiet:
        if result.message:
            console.print(f"[green]{text(result.message)}[/]")
        else:
            console.print(
                f"rolled back migration {text(result.migration_id)}: removed {len(result.removed)} unit(s) "
                f"from {text(result.destination)}"
                + (
                    f"; experiments put back as they were: {text(', '.join(result.restored))}"
                    if result.restored
                    else ""
                )
            )
            if result.verify.ok:
                console.print(
                    f"[green]verify: the destination is as before[/] ({result.verify.units_checked} units)"
                )
            else:
                mismatches(result.verify.mismatches)
    if not result.verify.ok:
        raise typer.Exit(VerificationError.exit_code)


@app.command()
def repair(
    source: SourceUri,
    destination: DestinationUri,
    state_dir: StateDir = None,
    as_json: JsonFlag = False,
    quiet: Quiet = False,
) -> None:
    """Set the journal of SOURCE → DESTINATION to what DESTINATION holds, unit by unit; exit 3
    if a unit is held otherwise than the source would write it."""
    from mlmigrate.engine.repair import repair as run_repair
    from mlmigrate.exceptions import UsageError
    from mlmigrate.stores.tree.uris import is_tree

    if is_tree(source) or is_tree(destination):
        raise UsageError(
            "repair sets an MLflow migration's journal to what its destination holds; a tree needs "
            "none: copy again (mlmigrate copy SOURCE DESTINATION) compares every object by size and "
            "SHA-256 and copies only what is missing or changed, and verify names each difference"
        )

    with ProgressView(not quiet, "re-checking") as view:
        result = run_repair(source, destination, state_dir=state_dir, listener=view)
    if as_json:
        print_json(result.as_dict())
    if not quiet:
        console.print(
            f"repaired migration {text(result.migration_id)}: {len(result.adopted)} unit(s) found whole "
            f"and marked done, {len(result.to_copy)} missing and marked to copy, "
            f"{len(result.differing)} held otherwise (left as they are); "
            f"state {text(result.was)} → {text(result.state)}"
        )
        for unit in result.differing:
            console.print(f"[red]held otherwise:[/] {text(unit)}")
        if result.to_copy:
            console.print(f"copy the missing units with: mlmigrate copy {text(source)} {text(destination)}")
    if not result.ok:
        raise typer.Exit(VerificationError.exit_code)
