"""Options shared by several commands."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

StateDir = Annotated[
    Path | None,
    typer.Option(
        "--state-dir",
        envvar="MLMIGRATE_STATE_DIR",
        help="Folder of the migration journal \\[default: mlmigrate's folder in the user data directory]",
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
