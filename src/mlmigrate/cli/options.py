"""Options shared by several commands."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from mlmigrate.stores.kinds import store_help

StateDir = Annotated[
    Path | None,
    typer.Option(
        "--state-dir",
        envvar="MLMIGRATE_STATE_DIR",
        help="Folder of the migration journal \\[default: mlmigrate's folder in the user data directory]",
    ),
]
JsonFlag = Annotated[bool, typer.Option("--json", help="Print the report as JSON on stdout.")]


def _report_files(paths: list[Path] | None) -> list[Path] | None:
    """The ``--report`` files, their formats checked while the command line is read."""
    from mlmigrate.exceptions import UsageError
    from mlmigrate.reporting import report_format

    for path in paths or []:
        try:
            report_format(path)
        except UsageError as error:
            raise typer.BadParameter(str(error).removeprefix(f"--report {path}: ")) from None
    return paths


ReportFile = Annotated[
    list[Path] | None,
    typer.Option(
        "--report",
        help="Write the report to FILE.html (self-contained) or FILE.json; may be repeated",
        callback=_report_files,
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
RetryWindow = Annotated[
    float,
    typer.Option(
        "--retry-window",
        min=0,
        help="Seconds a unit that met a dropped connection or a restarting server is retried "
        "(the pause doubles from 0.5 s to 8 s); 0: no retry",
        metavar="SECONDS",
    ),
]
SourceUri = Annotated[
    str, typer.Argument(help=f"Source store. {store_help('source')}", metavar="SOURCE", show_default=False)
]
DestinationUri = Annotated[
    str,
    typer.Argument(
        help=f"Destination store. {store_help('destination')}", metavar="DESTINATION", show_default=False
    ),
]

Experiments = Annotated[
    list[str] | None,
    typer.Option(
        "--experiment",
        help="Copy only this experiment (a name or an id), with everything under it (repeatable)",
        metavar="NAME|ID",
    ),
]
Models = Annotated[
    list[str] | None,
    typer.Option(
        "--model",
        help="Copy only this registered model, with its versions, tags and aliases (repeatable)",
        metavar="NAME",
    ),
]
