"""Older MLflow releases in venvs of their own, built from PyPI at test time, and the FileStores
they write (``old_mlflow_writer.py``, run by that venv's interpreter).

A venv is built once per MLflow version and Python and kept in pytest's cache folder
(``.pytest_cache/d/old-mlflow/``), so only the first session pays for the install. The package
is ``mlflow-skinny`` of that release: the same client, tracking FileStore and registry code as
``mlflow``, without its server and ML dependencies (numpy, pandas, scipy, …), so the install is
small and quick. Both releases install on Python 3.11 from PyPI.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

#: the releases the suite builds stores with: the one seed guide 004 pins, and a 1.x
VERSIONS = ("2.9.2", "1.28.0")
WRITER = Path(__file__).with_name("old_mlflow_writer.py")


class OldMlflowUnavailable(RuntimeError):
    """The venv of an older MLflow could not be built (no PyPI, no wheel for this Python)."""


@contextmanager
def _locked(path: Path) -> Iterator[None]:
    """Hold an exclusive lock on ``path`` (another pytest may build the same venv)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def venv_python(cache: Path, version: str) -> Path:
    """The interpreter of a venv holding ``mlflow-skinny==version`` under ``cache``, built now
    unless an earlier session finished building it."""
    python = f"py{sys.version_info.major}.{sys.version_info.minor}"
    folder = cache / f"mlflow-skinny-{version}-{python}"
    ready = folder / ".ready"
    with _locked(cache / f".{folder.name}.lock"):
        if ready.is_file():
            return folder / "bin" / "python"
        shutil.rmtree(folder, ignore_errors=True)  # a build that was cut short
        steps = (
            [sys.executable, "-m", "venv", str(folder)],
            [str(folder / "bin" / "python"), "-m", "pip", "install", "-q", "--disable-pip-version-check",
             f"mlflow-skinny=={version}"],
        )  # fmt: skip
        for step in steps:
            done = subprocess.run(step, capture_output=True, text=True, timeout=500)
            if done.returncode != 0:
                raise OldMlflowUnavailable(
                    f"{' '.join(step)} failed ({done.returncode}): {done.stderr.strip()[-2000:]}"
                )
        ready.write_text(version)
    return folder / "bin" / "python"


def write_store(python: Path, root: Path) -> Path:
    """A FileStore written by the MLflow of ``python`` at ``root/"mlruns"``; returns that folder."""
    mlruns = (root / "mlruns").resolve()
    environment = {
        key: value for key, value in os.environ.items() if not key.startswith(("MLFLOW_", "PYTHON"))
    }
    done = subprocess.run(
        [str(python), str(WRITER), str(mlruns)],
        capture_output=True,
        text=True,
        cwd=root,
        env=environment,
        timeout=300,
    )
    if done.returncode != 0:
        raise RuntimeError(f"the store writer failed ({done.returncode}): {done.stderr.strip()[-3000:]}")
    return mlruns
