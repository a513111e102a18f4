"""The model files beside a registry: which rows lack their file, which files lack a row, and
which sizes differ from ``file_size``."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pyarrow as pa

from mlmigrate.stores.registry.contents import Problem, RegistryContents
from mlmigrate.stores.registry.layout import MODELS, VERSIONS

#: files of the application's layout (``<name>/v<N>/model.pkl``) are the ones a row should name
FILE_PATTERN = "*/v*/*"


def model_files(root: Path) -> list[str]:
    """Every file of the application's layout under ``root``, relative, sorted."""
    return sorted(p.relative_to(root).as_posix() for p in root.glob(FILE_PATTERN) if p.is_file())


def file_problems(contents: RegistryContents, root: Path) -> list[Problem]:
    """Rows whose file is missing or of another size than recorded, and files no row names."""
    versions = contents.tables[VERSIONS]
    names = dict(
        zip(
            contents.tables[MODELS].column("id").to_pylist(),
            contents.tables[MODELS].column("name").to_pylist(),
            strict=True,
        )
    )
    problems: list[Problem] = []
    named: set[str] = set()
    if versions.num_rows and not model_files(root):  # a root without the app's files: say it once
        return [
            Problem(
                "no_model_files",
                str(root),
                f"no model file of the application's layout ({FILE_PATTERN}) is under the model root",
                "reported (give the model root as ?models=DIR to check and copy the files)",
            )
        ]
    for row in versions.to_pylist():
        model = names.get(row["model_id"])
        path = root / row["storage_path"]
        named.add(Path(row["storage_path"]).as_posix())
        where = f"{model!r} version {row['version']}"
        if not path.is_file():
            problems.append(
                Problem(
                    "missing_file",
                    where,
                    f"its model file {path} does not exist",
                    "reported (the row is copied; no file is copied or verified)",
                    model,
                )
            )
        elif row["file_size_bytes"] is not None and path.stat().st_size != row["file_size_bytes"]:
            problems.append(
                Problem(
                    "size_mismatch",
                    where,
                    f"{path} holds {path.stat().st_size} bytes, its file_size says {row['file_size_bytes']}",
                    "reported (file_size is copied as recorded; the file as it is)",
                    model,
                )
            )
    for relative in model_files(root):
        if relative not in named:
            problems.append(
                Problem(
                    "unlisted_file",
                    str(root / relative),
                    "no version row names this model file",
                    "reported (not copied)",
                    relative.split("/", 1)[0],
                )
            )
    return problems


def digest_file(path: Path) -> str:
    """The SHA-256 of a file, read in 8 MiB chunks."""
    sha = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(8 << 20):
            sha.update(chunk)
    return sha.hexdigest()


def file_facts(versions: pa.Table, root: Path) -> dict[str, tuple[int, str] | None]:
    """``storage_path`` → (size, SHA-256) of each version's file under ``root`` (None when missing)."""
    facts: dict[str, tuple[int, str] | None] = {}
    for storage_path in versions.column("storage_path").to_pylist():
        path = root / storage_path
        facts[storage_path] = (path.stat().st_size, digest_file(path)) if path.is_file() else None
    return facts
