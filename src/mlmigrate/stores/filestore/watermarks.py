"""A FileStore unit's watermark: the names, sizes and mtimes of its folders and files, found
with ``stat`` alone (no file is opened), so a catch-up pass costs a walk of the tree, not a
parse of it.

MLflow rewrites a changed file in place (``meta.yaml``, a tag) or appends to it (a metric's
history), which moves its mtime and size; a file added, removed or renamed moves its folder's
mtime. Artifact folders are left out: they hold no rows.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

#: folders under a run, logged model or trace that hold artifacts, not rows
ARTIFACTS = "artifacts"


def tree_watermark(folder: Path, *, in_trash: bool = False) -> str:
    """The fingerprint of every folder and file under ``folder`` but its artifacts (empty
    when the folder is gone)."""
    digest = hashlib.blake2b(digest_size=16)
    digest.update(b"trash" if in_trash else b"live")
    try:
        _walk(str(folder), "", digest)
    except FileNotFoundError:  # removed while walked: changed, whatever it held
        digest.update(b"gone")
    return digest.hexdigest()


def _walk(path: str, relative: str, digest: hashlib.blake2b) -> None:
    entries = sorted(os.scandir(path), key=lambda entry: entry.name)
    stat = os.stat(path)
    digest.update(f"d {relative} {stat.st_mtime_ns}\n".encode())
    for entry in entries:
        name = f"{relative}/{entry.name}"
        if entry.is_dir(follow_symlinks=False):
            if entry.name != ARTIFACTS:
                _walk(entry.path, name, digest)
            continue
        try:
            found = entry.stat(follow_symlinks=False)
        except FileNotFoundError:
            continue  # removed meanwhile: its folder's mtime says so
        digest.update(f"f {name} {found.st_size} {found.st_mtime_ns}\n".encode())
