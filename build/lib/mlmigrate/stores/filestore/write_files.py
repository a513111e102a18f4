"""Writing FileStore files as MLflow writes them: YAML metadata and one file per key."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import yaml

from mlmigrate.exceptions import StoreError

try:  # MLflow dumps with the C dumper when libyaml is there; the text is the same
    _Dumper: type = yaml.CSafeDumper
except AttributeError:  # pragma: no cover
    _Dumper = yaml.SafeDumper


def write_yaml(path: Path, data: dict[str, Any]) -> None:
    """``data`` as MLflow's ``write_yaml`` does: block style, unicode kept, keys sorted."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", encoding="utf-8") as handle:
        yaml.dump(data, handle, default_flow_style=False, allow_unicode=True, sort_keys=True, Dumper=_Dumper)


def safe_child(folder: Path, key: str, what: str) -> Path:
    """``folder / key`` for a key that MLflow would accept as a file name (``/`` makes folders)."""
    parts = key.split("/")
    if not key or key.startswith("/") or any(part in ("", ".", "..") for part in parts) or "\0" in key:
        raise StoreError(f"{what} {key!r} cannot be a FileStore file name")
    return folder.joinpath(*parts)


def write_key_files(folder: Path, keys: list[str], values: list[Any], what: str) -> None:
    """One file per key holding its value verbatim (``None`` as empty, as MLflow writes it)."""
    made: set[Path] = set()
    for key, value in zip(keys, values, strict=True):
        path = safe_child(folder, key, what)
        if path.parent not in made:
            path.parent.mkdir(parents=True, exist_ok=True)
            made.add(path.parent)
        with open(path, "wb") as handle:
            handle.write(b"" if value is None else str(value).encode("utf-8"))


def append_bytes(path: Path, data: bytes) -> None:
    """Append ``data`` to ``path``, making its folder first."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "ab") as handle:
        handle.write(data)


def columns(batch: Any, *names: str) -> list[list[Any]]:
    """Columns of a record batch as Python lists (for per-object metadata, never per metric point)."""
    return [batch.column(batch.schema.get_field_index(name)).to_pylist() for name in names]


def make_dirs(*folders: Path) -> None:
    """Create ``folders`` (and parents)."""
    for folder in folders:
        os.makedirs(folder, exist_ok=True)
