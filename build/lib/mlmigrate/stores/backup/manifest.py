"""The manifest of a backup folder and the check that its files are intact.

``manifest.json`` is written last, atomically: a folder without it is not a
finished backup, whatever else it holds.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq

from mlmigrate.digest import Digest
from mlmigrate.exceptions import StoreError

MANIFEST = "manifest.json"
FORMAT = 1


def table_file(root: Path, table: str) -> Path:
    """The Parquet file of ``table`` in a finished backup."""
    return root / f"{table}.parquet"


def read_manifest(root: Path) -> dict[str, Any] | None:
    """The manifest of the backup in ``root``, or None when there is none."""
    path = root / MANIFEST
    if not path.exists():
        return None
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise StoreError(f"damaged backup: {path} cannot be read ({exc})") from exc
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise StoreError(f"damaged backup: {path} is not an mlmigrate backup manifest (format {FORMAT})")
    return manifest


def write_atomically(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` through a temporary file, flushed to disk, then renamed."""
    partial = path.with_name(f".{path.name}.tmp")
    try:
        with open(partial, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(partial, path)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise


def write_manifest(root: Path, manifest: dict[str, Any]) -> None:
    """Write ``manifest.json`` (the last step of a backup)."""
    write_atomically(root / MANIFEST, (json.dumps(manifest, indent=2, sort_keys=True) + "\n").encode())


def check_files(root: Path, manifest: dict[str, Any]) -> None:
    """Re-read every table file and compare its rows and digest with the manifest.

    Raises :class:`StoreError` naming the first damaged or missing file.
    """
    for table, expected in manifest["tables"].items():
        path = table_file(root, table)
        digest = Digest()
        try:
            for batch in pq.ParquetFile(path).iter_batches(batch_size=200_000):
                digest.add(batch)
        except FileNotFoundError as exc:
            raise StoreError(f"damaged backup: {path} is missing") from exc
        except Exception as exc:  # a corrupt footer, page or column: Parquet cannot decode it
            raise StoreError(f"damaged backup: {path} cannot be read ({exc})") from exc
        if digest.rows != expected["rows"] or digest.hex != expected["digest"]:
            raise StoreError(
                f"damaged backup: {path} holds {digest.rows} rows with digest {digest.hex}; "
                f"the manifest says {expected['rows']} rows with digest {expected['digest']}"
            )
