"""What a user expects of the package: ``--version``, type information, the licence, an extra
that installs every driver."""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from importlib.metadata import version
from pathlib import Path

from cli_helpers import invoke, show

ROOT = Path(__file__).resolve().parent.parent


def test_version_prints_the_installed_version() -> None:
    result = invoke("--version")

    assert result.returncode == 0, show(result)
    assert result.stdout == f"mlmigrate {version('mlmigrate')}\n"


def test_the_wheel_holds_py_typed_and_the_licence_and_offers_every_driver(tmp_path: Path) -> None:
    tree = tmp_path / "tree"  # built from a copy: a build leaves build/ and egg-info behind
    shutil.copytree(ROOT / "src", tree / "src", ignore=shutil.ignore_patterns("*.egg-info", "__pycache__"))
    for name in ("pyproject.toml", "README.md", "LICENSE"):
        shutil.copy2(ROOT / name, tree / name)
    built = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(tmp_path), str(tree)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert built.returncode == 0, built.stderr
    [wheel] = tmp_path.glob("mlmigrate-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
        [metadata] = [name for name in names if name.endswith(".dist-info/METADATA")]
        text = archive.read(metadata).decode()

    assert "mlmigrate/py.typed" in names
    assert any(name.endswith("LICENSE") and "dist-info" in name for name in names), names
    assert "Provides-Extra: all" in text
    assert "Apache" in (ROOT / "LICENSE").read_text() and "Apache-2.0" in text
