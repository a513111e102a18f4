"""Every option of copy is checked before anything is read or written: a bad one is a usage
error (exit 2) and the destination is not even created."""

from __future__ import annotations

from pathlib import Path

import pytest
from cli_helpers import invoke, show, sqlite_uri


@pytest.mark.parametrize(
    "options",
    [
        ["--report", "r.txt"],  # was refused after the copy had committed
        ["--rewrite", "no-equals-sign"],  # was refused after the schema was made
        ["--workers", "0"],
        ["--batch-size", "0"],
        ["--retry-window", "-1"],
        ["--on-error", "ignore"],
        ["--on-conflict", "overwrite"],
    ],
    ids=lambda options: options[0],
)
def test_a_bad_option_is_refused_before_the_destination_exists(
    minimal_store: Path, tmp_path: Path, options: list[str]
) -> None:
    destination = tmp_path / "dst.db"

    refused = invoke("copy", str(minimal_store), sqlite_uri(destination), "-q", *options)

    assert refused.returncode == 2, show(refused)
    assert "Traceback" not in refused.stderr
    assert not destination.exists()
