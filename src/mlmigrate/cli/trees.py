"""The tree side of ``copy``, ``plan``, ``verify``, ``backup``, ``restore`` and ``rollback``: the
commands hand a pair of tree URIs (or a tree backup, or a tree migration) here."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from mlmigrate.cli.output import answer, console, print_json, size, text
from mlmigrate.cli.progress import ProgressView
from mlmigrate.exceptions import VerificationError

DeleteExtra = Annotated[
    bool,
    typer.Option(
        "--delete-extra",
        help="Trees: also remove destination objects the source does not have (like rclone sync); "
        "off by default",
    ),
]
AppEf = Annotated[
    bool,
    typer.Option(
        "--app-ef",
        help="Trees: check the app_ef data/ layout (each <project>/metadata.json parses; projects "
        "without one are reported)",
    ),
]
ProjectPath = Annotated[
    str,
    typer.Option(
        "--project-path",
        help="Trees with --app-ef: keep metadata.json's project_path (lossless) or rewrite it to "
        "--project-root/<project id>",
    ),
]
ProjectRoot = Annotated[
    str | None,
    typer.Option(
        "--project-root",
        help="Trees with --project-path rewrite: the data root the app sees at the destination "
        "(default: the destination's folder or URI)",
        metavar="ROOT",
    ),
]
WithFiles = Annotated[
    list[Path] | None,
    typer.Option(
        "--with",
        help="Trees: backup keeps this file (.env, say) in the backup too; restore puts the backup's "
        "file of this name back at this path (repeatable)",
    ),
]


def refuse_row_options(given: dict[str, bool]) -> None:
    """Refuse the options of MLflow copies that a tree copy would otherwise ignore silently."""
    named = [option for option, used in given.items() if used]
    if named:
        from mlmigrate.exceptions import UsageError

        raise UsageError(
            f"{', '.join(named)}: not an option of tree copies (they are for MLflow stores); "
            "a tree copy takes --delete-extra, --verify/--no-verify, --workers, --state-dir, "
            "--s3-endpoint, --app-ef, --project-path, --project-root, --json, -q"
        )


def app_ef_options(app_ef: bool, project_path: str, project_root: str | None) -> Any:
    """The ``--app-ef`` options, or None without ``--app-ef``."""
    from mlmigrate.exceptions import UsageError
    from mlmigrate.trees.app_ef import AppEfOptions

    if not app_ef:
        if project_path != "keep" or project_root:
            raise UsageError("--project-path and --project-root need --app-ef")
        return None
    return AppEfOptions(project_path, project_root)


def _app_ef_lines(found: dict[str, Any] | None) -> None:
    if not found:
        return
    console.print(
        f"app_ef: {found['projects']} project(s), {found['metadata_ok']} metadata.json parsed; "
        f"{text(found['project_path_note'])}"
    )
    for name in found["projects_without_metadata"]:
        console.print(
            f"[yellow]app_ef:[/] project folder {text(name)} has no metadata.json (copied, reported)"
        )
    for entry in found["unparsable_metadata"]:
        console.print(f"[red]app_ef:[/] {text(entry['key'])} does not parse: {text(entry['error'])}")


def differences(found: dict[str, Any]) -> None:
    """Each difference of a tree verify, by key."""
    for entry in found["differences"][:200]:
        console.print(f"[red]{entry['kind']}[/] {text(entry['key'])}: {text(entry['problem'])}")
    if len(found["differences"]) > 200:
        console.print(f"… and {len(found['differences']) - 200} more (--json lists them all)")


def copy(source: str, destination: str, *, quiet: bool, as_json: bool, **options: Any) -> None:
    """``copy`` of two trees: progress, summary, exit 3 when the verify finds differences."""
    from mlmigrate.trees.copying import copy_tree

    with ProgressView(not quiet, "copying") as view:
        report = copy_tree(source, destination, listener=view, **options)
    data = report.as_dict()
    if as_json:
        print_json(data)
    if not quiet:
        rate = data["bytes_per_second"]
        console.print(
            f"tree copy {text(data['status'])}: {data['objects']:,} objects ({size(data['bytes'])}); "
            f"copied {data['copied']:,} ({size(data['bytes_copied'])}"
            + (f", {size(rate)}/s" if rate else "")
            + f"), already there {data['already_there']:,}, server-side {data['server_side']:,}"
            + (f", removed as extra {len(data['deleted_extra']):,}" if data["deleted_extra"] else "")
            + f" in {data['seconds']:.2f} s; migration {text(data['migration_id'])}"
        )
        _app_ef_lines(data["app_ef"])
        for note in data["notes"]:
            console.print(f"note: {text(note)}")
        if data["verify"] is not None:
            if data["verify"]["ok"]:
                console.print(
                    f"[green]verified[/]: {data['verify']['objects_checked']:,} objects, size and SHA-256"
                )
            else:
                differences(data["verify"])
    if report.exit_code:
        raise typer.Exit(report.exit_code)


def plan(source: str, destination: str | None, *, as_json: bool, **options: Any) -> None:
    """``plan`` of a tree (and a destination tree): objects, bytes, what a copy would do."""
    from mlmigrate.trees.survey import plan_tree

    found = plan_tree(source, destination, **options)
    if as_json:
        print_json(found)
        return
    answer.print(f"tree {text(found['source'])}: {found['objects']:,} objects, {size(found['bytes'])}")
    if "destination" in found:
        answer.print(
            f"into {text(found['destination'])}: {found['to_copy']:,} to copy "
            f"({size(found['bytes_to_copy'])}; "
            f"{found['missing']:,} missing, {found['different_size']:,} of another size), "
            f"{found['same_size']:,} of the same size (hashed on both sides; copied if they differ), "
            f"{found['extra']:,} extra at the destination "
            + ("(removed with --delete-extra)" if found["delete_extra"] else "(left alone)")
            + ("; server-side copy" if found["server_side"] else "; streamed")
        )
    if found.get("app_ef"):
        app = found["app_ef"]
        answer.print(
            f"app_ef: {app['projects']} project(s), {app['metadata_ok']} metadata.json parsed; "
            f"{text(app['project_path_note'])}"
        )
        for name in app["projects_without_metadata"]:
            answer.print(f"app_ef: project folder {text(name)} has no metadata.json")
        for entry in app["unparsable_metadata"]:
            answer.print(f"app_ef: {text(entry['key'])} does not parse: {text(entry['error'])}")


def verify(source: str, destination: str, *, quiet: bool, as_json: bool, **options: Any) -> None:
    """``verify`` of two trees: exit 3 naming each key missing, extra or different."""
    from mlmigrate.trees.survey import verify_tree

    with ProgressView(not quiet, "verifying") as view:
        found = verify_tree(source, destination, listener=view, **options)
    if as_json:
        print_json(found)
    if not quiet:
        _app_ef_lines(found.get("app_ef"))
        if found["ok"]:
            console.print(f"[green]equal[/]: {found['objects_checked']:,} objects, size and SHA-256")
        else:
            console.print(
                f"[red]different[/]: {found['missing']} missing, {found['extra']} extra, "
                f"{found['different']} different"
            )
            differences(found)
    if not found["ok"]:
        raise typer.Exit(VerificationError.exit_code)


def backup(
    source: str, folder: Path, *, with_files: list[Path], quiet: bool, as_json: bool, **options: Any
) -> None:
    """``backup`` of a tree into a new folder."""
    from mlmigrate.trees.archive import backup_tree

    with ProgressView(not quiet, "backing up") as view:
        found = backup_tree(source, folder, with_files=with_files, listener=view, **options)
    if as_json:
        print_json(found)
    if not quiet:
        console.print(
            f"tree backup in {text(folder)}: {found['objects']:,} objects ({size(found['bytes'])}) in "
            f"data.tar.gz ({size(found['archive_bytes'])})"
            + (f", with {text(', '.join(found['with']))}" if found["with"] else "")
            + "; manifest.json written last (restore with: mlmigrate restore)"
        )


def restore(
    folder: Path, destination: str, *, with_files: list[Path], quiet: bool, as_json: bool, **options: Any
) -> None:
    """``restore`` of a tree backup into an empty or new tree."""
    from mlmigrate.trees.archive import restore_tree

    with ProgressView(not quiet, "restoring") as view:
        report = restore_tree(folder, destination, with_files=with_files, listener=view, **options)
    data = report.as_dict()
    if as_json:
        print_json(data)
    if not quiet:
        console.print(
            f"restored {data['objects']:,} objects ({size(data['bytes'])}) into {text(data['destination'])}"
        )
        for note in data["notes"]:
            console.print(f"note: {text(note)}")


def rollback(migration_id: str, *, quiet: bool, as_json: bool, **options: Any) -> None:
    """``rollback`` of a tree copy."""
    from mlmigrate.trees.undo import rollback_tree

    found = rollback_tree(migration_id, **options)
    if as_json:
        print_json(found)
    if not quiet:
        console.print(
            f"rolled back tree migration {text(migration_id)}: removed {found['removed']:,} object(s) from "
            f"{text(found['destination'])}; {found['left_as_they_are']:,} that were there before "
            "left as they are"
        )
        if found["deleted_by_copy_not_restorable"]:
            console.print(
                f"[yellow]note:[/] {len(found['deleted_by_copy_not_restorable'])} object(s) that "
                "--delete-extra removed cannot be given back (restore them from a backup)"
            )
    if not found["ok"]:
        raise typer.Exit(VerificationError.exit_code)


def tree_migration(migration_id: str | None, last: str | None, state_dir: Path | None) -> str | None:
    """The id of the tree migration ``rollback`` names (an id, or ``--last`` a tree URI), else None."""
    from mlmigrate.engine.journal import Journal
    from mlmigrate.stores.tree.uris import is_tree
    from mlmigrate.trees.undo import is_tree_migration

    if last is not None and not is_tree(last):
        return None
    journal = Journal(state_dir)
    try:
        found = journal.latest_into(last) if last is not None else journal.migration(str(migration_id))
    finally:
        journal.close()
    if last is not None and found is None:
        from mlmigrate.exceptions import UsageError

        raise UsageError(f"no migration into {last} in the journal")
    return str(found["migration_id"]) if found is not None and is_tree_migration(found) else None
